// Package pahostate adapts the Paho clients' session state and packet
// stores to a Broker that keeps no session: nothing stored that is never
// read, and publishes in flight ended when their connection is lost.
package pahostate

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"
)

// skipQoS0Ack is paho's session state, except that acknowledging a QoS 0
// message is a no-op. paho asks to acknowledge every message it delivers,
// and for QoS 0 its session state answers with a new error, which paho then
// ignores: an allocation per message received.
type skipQoS0Ack struct{ *state.State }

func (s skipQoS0Ack) Ack(pb *packets.Publish) error {
	if pb.QoS == 0 {
		return nil // QoS 0 has no acknowledgement
	}
	return s.State.Ack(pb)
}

// noStore is a paho session store that keeps nothing, for sessions that end
// with their connection (Clean Start, Session Expiry Interval 0).
//
// paho's session state (state.State) still allocates packet identifiers,
// enforces the broker's Receive Maximum, matches acknowledgements to waiting
// publishes and remembers, in memory, which QoS 2 messages it has received.
// The store only holds copies of packets for resending, and MQTT 5 resends
// nothing within a connection [MQTT-4.4.0-1]: only when a client reconnects
// to a session the broker kept. With no session kept, the broker answers
// every reconnect with Session Present 0, on which paho clears its state
// and would discard the store anyway; paho's default in-memory store would
// serialise every outgoing QoS 1 and 2 PUBLISH (and every PUBREC sent)
// into a buffer only to throw it away.
type noStore struct{}

func (noStore) Put(uint16, byte, io.WriterTo) error { return nil }

// Get is never called: List is always empty, and paho only reads packets it
// listed.
func (noStore) Get(id uint16) (io.ReadCloser, error) {
	return nil, fmt.Errorf("packet %d: no session store", id)
}

func (noStore) Delete(uint16) error { return nil }

func (noStore) Quarantine(uint16) error { return nil }

func (noStore) List() ([]uint16, error) { return nil, nil }

func (noStore) Reset() error { return nil }

// lossReportingSession is paho's in-memory session state, except that when
// the connection of a session that is not kept is lost, the QoS 1 and 2
// publishes in flight on it end at once, as paho's SessionManager promises
// ("nil will be sent") but its state does not do: it forgets them, and their
// callers waited for the acknowledgement until their deadlines. They end
// with paho's error for a publish cut off by a shutdown, which the Broker
// reports as ErrDisconnected.
type lossReportingSession struct {
	*state.State

	mu       sync.Mutex
	inflight map[uint16]chan<- packets.ControlPacket // by packet identifier; a reused one replaces its entry
}

// NewSession returns paho's in-memory session, wrapped so that it reports
// lost publishes unless the session is kept.
func NewSession(kept bool) session.SessionManager {
	if kept { // paho sends the publishes again on the next connection
		return skipQoS0Ack{state.NewInMemory()}
	}
	// No session outlives the connection, so nothing stored is ever sent
	// again: spare paho serialising every QoS 1 and 2 PUBLISH into a store.
	return &lossReportingSession{State: state.New(noStore{}, noStore{}), inflight: make(map[uint16]chan<- packets.ControlPacket)}
}

// Ack skips QoS 0 messages, as skipQoS0Ack does.
func (s *lossReportingSession) Ack(pb *packets.Publish) error {
	if pb.QoS == 0 {
		return nil // QoS 0 has no acknowledgement
	}
	return s.State.Ack(pb)
}

// AddToSession records where the outcome of a publish goes.
func (s *lossReportingSession) AddToSession(ctx context.Context, p session.Packet, resp chan<- packets.ControlPacket) error {
	if err := s.State.AddToSession(ctx, p, resp); err != nil {
		return err
	}
	if pub, ok := p.(*packets.Publish); ok {
		s.mu.Lock()
		s.inflight[pub.PacketID] = resp
		s.mu.Unlock()
	}
	return nil
}

// PacketReceived forgets a publish once its last acknowledgement has come:
// the map would otherwise keep a channel for every packet identifier ever
// used, up to 65,535 of them.
func (s *lossReportingSession) PacketReceived(recv *packets.ControlPacket, pubs chan<- *packets.Publish) error {
	id, final := finalAck(recv)
	var resp chan<- packets.ControlPacket
	if final {
		s.mu.Lock()
		resp = s.inflight[id]
		s.mu.Unlock()
	}
	err := s.State.PacketReceived(recv, pubs)
	if final {
		s.mu.Lock()
		if s.inflight[id] == resp { // not yet taken by the next publish, which paho's state lets have id now
			delete(s.inflight, id)
		}
		s.mu.Unlock()
	}
	return err
}

// finalAck returns the packet identifier of the acknowledgement that ends a
// QoS 1 or 2 publish: a PUBACK, a PUBCOMP, or a PUBREC refusing it.
func finalAck(recv *packets.ControlPacket) (uint16, bool) {
	switch p := recv.Content.(type) {
	case *packets.Puback:
		return p.PacketID, true
	case *packets.Pubcomp:
		return p.PacketID, true
	case *packets.Pubrec:
		return p.PacketID, p.ReasonCode >= 0x80
	}
	return 0, false
}

// ConnectionLost ends the waits of the publishes in flight. One whose answer
// is still waiting in its channel (capacity 1) is left alone.
func (s *lossReportingSession) ConnectionLost(dp *packets.Disconnect) error {
	err := s.State.ConnectionLost(dp)
	s.mu.Lock()
	inflight := s.inflight
	s.inflight = make(map[uint16]chan<- packets.ControlPacket)
	s.mu.Unlock()
	for _, resp := range inflight {
		select {
		case resp <- packets.ControlPacket{}: // paho: "not fully acknowledged at time of shutdown"
		default:
		}
	}
	return err
}
