// Package protocol defines the agora wire contract: Ed25519 identities and their two spellings
// (agora DER hex and libp2p peer IDs), signed content-addressed envelopes, their canonical form,
// the webhook text form, and the ingress guards that every entry point applies to inbound
// envelopes.
//
// The package does no network I/O, starts no goroutines and imports nothing from node or
// relaymode. The canonical form and the verdicts of Verify match the earlier TypeScript agora
// implementation (version 0.8.4) byte for byte; where this package is stricter, the refusal
// carries a Reason of its own, listed in docs/security.md.
package protocol
