package relaymode

// storedPage is how many stored envelopes are read from the store at a time.
const storedPage = 256

// storagePeerKeys lists the configured storage peers. The Store does not enumerate them, so
// the relay keeps the list it was given.
func (r *Relay) storagePeerKeys() []string {
	if r.cfg.Store == nil {
		return nil
	}
	return r.cfg.StoragePeers
}

// streamStored sends a storage peer's stored envelopes to its new session, oldest first, a page
// at a time, waiting for room in the session's queue. Envelopes stay in the store until
// delivered: see wsSession.writeFrame and handleAck.
func (r *Relay) streamStored(s *wsSession) {
	key := s.Key()
	var after uint64
	for {
		page, err := r.cfg.Store.After(key, after, storedPage)
		if err != nil {
			r.log.Error("reading stored envelopes failed", "key", key, "err", err)
			return
		}
		for _, st := range page {
			if !s.deliverStored(st.Envelope) {
				return
			}
			after = st.Seq
		}
		if len(page) < storedPage {
			return
		}
	}
}

// deleteStored removes delivered envelopes from the store.
func (r *Relay) deleteStored(key string, ids ...string) {
	if err := r.cfg.Store.Delete(key, ids...); err != nil {
		r.log.Error("deleting delivered stored envelopes failed", "key", key, "envelopes", ids, "err", err)
	}
}
