package mqttrpc

// PendingRequests reports how many requests b is waiting on, so tests can
// prove that every exit path forgets its request.
func PendingRequests(b *Broker) int { return b.pending.len() }
