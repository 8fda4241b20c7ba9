// Package node is the libp2p peer that every agora agent embeds.
//
// A Node's libp2p identity is the agent's Ed25519 key, so its peer ID and its agora public
// key name the same key. Nodes exchange signed envelopes (package protocol) over two stream
// protocols, and the receiver acks each frame:
//
//   - /agora/envelope/1.0.0 carries envelopes of the sending peer itself: `from` must be the
//     key of the transport peer.
//   - /agora/forward/1.0.0 carries envelopes that a relay node forwards on behalf of their
//     signer, such as a WebSocket or REST client of the relay.
//
// Every inbound envelope is verified with protocol.Verify, passes the ingress guards
// (duplicates, freshness, per-sender rate) and a per-peer rate limit, and is then handed to
// the Handler or, by default, to Inbound(). Gossipsub topics carry the same envelopes; their
// validator drops invalid ones before they propagate.
//
// Peers are found through the peerstore, the Kademlia DHT seeded only by configured
// bootstrap peers, mDNS on the LAN, and circuit relay v2, with hole punching (DCUtR) to
// upgrade relayed connections. The wire format is described in docs/p2p-protocol.md.
package node
