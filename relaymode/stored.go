package relaymode

// storagePeerKeys lists the configured storage peers. The Store does not enumerate them, so
// the relay keeps the list it was given.
func (r *Relay) storagePeerKeys() []string {
	if r.cfg.Store == nil {
		return nil
	}
	return r.cfg.StoragePeers
}

// deliverStored sends a storage peer's stored envelopes to its new session, oldest first.
// Envelopes stay in the store until the client acks them.
func (r *Relay) deliverStored(s *wsSession) {
	key := s.Key()
	if !r.isStoragePeer(key) {
		return
	}
	pending, err := r.cfg.Store.Pending(key, r.cfg.SendQueue/2)
	if err != nil {
		r.log.Error("reading stored envelopes failed", "key", key, "err", err)
		return
	}
	for _, st := range pending {
		if !s.deliver(st.Envelope) {
			return
		}
	}
}
