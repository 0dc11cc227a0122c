package mqttrpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mqttrpc/mqttrpc/internal/pahostate"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/mqttrpc/mqttrpc/internal/bufconn"
)

// reasonNoMatchingSubscribers is the MQTT 5 PUBACK reason code 0x10.
const reasonNoMatchingSubscribers = 0x10

// v5 is the MQTT 5.0 transport, on paho.golang's autopaho.
type v5 struct {
	cm       *autopaho.ConnectionManager
	ev       events
	subIDs   atomic.Bool                    // the broker's CONNACK offered Subscription Identifiers
	features atomic.Pointer[serverFeatures] // what else it offered
	server   atomic.Pointer[url.URL]        // of the latest connection attempt
	conn     atomic.Pointer[bufconn.Conn]   // the latest connection dialled
	stall    time.Duration
}

func dialV5(servers []*url.URL, cfg *config, ev events) (transport, error) {
	t := &v5{ev: ev, stall: stallTimeout(cfg)}
	cc := autopaho.ClientConfig{
		ServerUrls:                    servers,
		TlsCfg:                        cfg.tls,
		KeepAlive:                     uint16(cfg.keepAlive / time.Second),
		CleanStartOnInitialConnection: cfg.sessionExpiry == 0,
		SessionExpiryInterval:         uint32(cfg.sessionExpiry / time.Second),
		ReconnectBackoff:              backoff(cfg.backoffMin, cfg.backoffMax),
		ConnectTimeout:                cfg.connectTimeout,
		ConnectUsername:               cfg.username,
		ConnectPassword:               []byte(cfg.password),
		OnConnectionUp:                t.connectionUp,
		OnConnectionDown:              func() bool { ev.down(); return true },
		OnConnectError:                func(err error) { ev.connectError(v5ConnectError(err)) },
		ConnectPacketBuilder:          t.connectPacket,
		AttemptConnection:             t.dialBuffered,
		ClientConfig: paho.ClientConfig{
			ClientID:          cfg.clientID,
			Session:           pahostate.NewSession(cfg.sessionExpiry > 0),
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){t.received},
		},
	}
	cm, err := autopaho.NewConnection(context.Background(), cc)
	if err != nil {
		return nil, failWith(ErrInvalidArgument, err)
	}
	t.cm = cm
	return t, nil
}

// dialBuffered hands paho a [bufconn.Conn]: buffered reads and gathered
// writes cut the system calls of a round trip, and a stalled link holds no
// caller (see publish).
func (t *v5) dialBuffered(ctx context.Context, cfg autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	c, err := bufconn.Dial(ctx, u, cfg.TlsCfg, t.stall)
	if err != nil {
		return nil, err
	}
	t.conn.Store(c)
	return c, nil
}

// connectPacket notes the server autopaho is about to try, and asks for
// reason strings and user properties on every packet. paho asks for none by
// default, and some brokers (mochi-mqtt) then strip the User Properties of
// the PUBLISH packets they forward, which carry the headers and the error
// status of replies.
func (t *v5) connectPacket(cp *paho.Connect, u *url.URL) (*paho.Connect, error) {
	t.server.Store(u)
	if cp.Properties == nil {
		cp.Properties = &paho.ConnectProperties{}
	}
	cp.Properties.RequestProblemInfo = true
	return cp, nil
}

func (t *v5) connectionUp(_ *autopaho.ConnectionManager, ca *paho.Connack) {
	t.subIDs.Store(ca.Properties == nil || ca.Properties.SubIDAvailable)
	f := serverFeatures{shared: true, wildcards: true}
	if ca.Properties != nil {
		f = serverFeatures{shared: ca.Properties.SharedSubAvailable, wildcards: ca.Properties.WildcardSubAvailable}
	}
	t.features.Store(&f)
	t.ev.up(t.server.Load())
}

// received converts paho's publish and hands it to the Broker's dispatcher.
// paho calls it on its one receiving goroutine and acknowledges the message
// when it returns, so it must not block.
func (t *v5) received(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	m := &Message{Topic: p.Topic, Body: p.Payload, QoS: p.QoS, Retain: p.Retain}
	if props := p.Properties; props != nil {
		m.ReplyTo = props.ResponseTopic
		// paho decodes every packet into fresh memory and never touches it
		// again once it has handed the packet over, and nothing here writes
		// to Correlation Data: the string can share its bytes.
		m.correlation = props.CorrelationData
		m.CorrelationID = unsafe.String(unsafe.SliceData(m.correlation), len(m.correlation))
		m.ContentType = props.ContentType
		if props.SubscriptionIdentifier != nil {
			m.subID = *props.SubscriptionIdentifier
		}
		if props.MessageExpiry != nil {
			m.expiry = time.Duration(*props.MessageExpiry) * time.Second
		}
		if len(props.User) > 0 {
			m.Headers = make(map[string]string, len(props.User))
			for _, up := range props.User {
				m.Headers[up.Key] = up.Value
			}
		}
	}
	t.ev.message(m)
	return true, nil
}

// outgoing5 holds a PUBLISH and its properties in one allocation.
type outgoing5 struct {
	p      paho.Publish
	props  paho.PublishProperties
	expiry uint32
}

// publish sends m. Its frame stays small, the packet being built and the
// errors named in functions of their own: on a QoS 1 publish paho's calls
// below it are deep, and a caller waiting for its reply keeps the stack
// that depth needed.
func (t *v5) publish(ctx context.Context, m *Message) error {
	p := newOutgoing5(m)
	// paho writes the packet on this goroutine and knows no deadline for the
	// write; the connection never makes it wait, but gathers the packet for
	// later. Waiting here, within ctx, while the link is backed up keeps
	// what it gathers bounded.
	if c := t.conn.Load(); c != nil {
		if err := c.WaitWritable(ctx); err != nil {
			return linkError(err)
		}
	}
	resp, err := t.cm.Publish(ctx, p)
	if err != nil || m.QoS > 0 && resp != nil && resp.ReasonCode == reasonNoMatchingSubscribers {
		return v5PublishError(m, resp, err)
	}
	return nil
}

// newOutgoing5 builds the PUBLISH packet of m.
func newOutgoing5(m *Message) *paho.Publish {
	o := &outgoing5{p: paho.Publish{Topic: m.Topic, QoS: m.QoS, Retain: m.Retain, Payload: m.Body}}
	if m.ReplyTo == "" && m.CorrelationID == "" && m.ContentType == "" && m.expiry <= 0 && len(m.Headers) == 0 {
		return &o.p
	}
	o.props = paho.PublishProperties{ResponseTopic: m.ReplyTo, ContentType: m.ContentType}
	o.p.Properties = &o.props
	switch {
	case len(m.correlation) > 0 && string(m.correlation) == m.CorrelationID: // no copy
		o.props.CorrelationData = m.correlation
	case m.CorrelationID != "":
		o.props.CorrelationData = []byte(m.CorrelationID)
	}
	if m.expiry > 0 {
		o.expiry = uint32((m.expiry + time.Second - 1) / time.Second) // round up: never expire early
		o.props.MessageExpiry = &o.expiry
	}
	for k, v := range m.Headers {
		o.props.User = append(o.props.User, paho.UserProperty{Key: k, Value: v})
	}
	return &o.p
}

// v5PublishError names the failure of m's publish: paho's err, or the
// broker's reason code in resp.
func v5PublishError(m *Message, resp *paho.PublishResponse, err error) error {
	switch {
	case err != nil && resp != nil && resp.ReasonCode >= 0x80:
		return fail(ErrRefused, "reason code 0x%02x", resp.ReasonCode)
	case err != nil:
		return v5Error(err)
	}
	return ErrNoResponders
}

func (t *v5) subscribe(ctx context.Context, subs []filterSpec) []error {
	errs := make([]error, len(subs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxConcurrentSubscribes)
	for _, packet := range v5Packets(subs) {
		sem <- struct{}{}
		wg.Go(func() { // ends when the SUBACK comes or ctx ends
			defer func() { <-sem }()
			t.subscribePacket(ctx, subs, packet, errs)
		})
	}
	wg.Wait()
	return errs
}

// maxConcurrentSubscribes bounds the SUBSCRIBE packets awaiting a SUBACK.
const maxConcurrentSubscribes = 16

// v5Packets groups subs into SUBSCRIBE packets, as indexes into subs: a
// Subscription Identifier belongs to a whole packet, so each filter that has
// one goes alone, and the others share packets.
func v5Packets(subs []filterSpec) [][]int {
	var packets [][]int
	var shared []int
	for i, s := range subs {
		if s.id != 0 {
			packets = append(packets, []int{i})
			continue
		}
		if shared = append(shared, i); len(shared) == maxFiltersPerPacket {
			packets, shared = append(packets, shared), nil
		}
	}
	if len(shared) > 0 {
		packets = append(packets, shared)
	}
	return packets
}

// subscribePacket sends subs[i] for each i in packet and records each
// filter's outcome in errs[i].
func (t *v5) subscribePacket(ctx context.Context, subs []filterSpec, packet []int, errs []error) {
	if f := t.features.Load(); f != nil { // paho would refuse the whole packet
		packet = slices.DeleteFunc(slices.Clone(packet), func(i int) bool {
			errs[i] = f.refuses(subs[i].filter)
			return errs[i] != nil
		})
		if len(packet) == 0 {
			return
		}
	}
	sp := &paho.Subscribe{Subscriptions: make([]paho.SubscribeOptions, len(packet))}
	for j, i := range packet {
		s := subs[i]
		sp.Subscriptions[j] = paho.SubscribeOptions{Topic: s.filter, QoS: s.qos}
		if s.fresh {
			sp.Subscriptions[j].RetainHandling = 2 // never send retained messages
		}
		if s.id != 0 && t.subIDs.Load() { // paho refuses one the broker does not offer
			sp.Properties = &paho.SubscribeProperties{SubscriptionIdentifier: &s.id}
		}
	}
	sa, err := t.cm.Subscribe(ctx, sp)
	for j, i := range packet {
		switch {
		case sa != nil && j < len(sa.Reasons) && featureRefusal(sa.Reasons[j]) != "":
			errs[i] = fail(ErrFeatureNotSupported, "the broker refuses %s (reason code 0x%02x)",
				featureRefusal(sa.Reasons[j]), sa.Reasons[j])
		case sa != nil && j < len(sa.Reasons) && sa.Reasons[j] >= 0x80:
			errs[i] = fail(ErrRefused, "reason code 0x%02x", sa.Reasons[j])
		case sa == nil && err != nil:
			errs[i] = v5Error(err)
		}
	}
}

func (t *v5) unsubscribe(ctx context.Context, filters ...string) error {
	_, err := t.cm.Unsubscribe(ctx, &paho.Unsubscribe{Topics: filters})
	return v5Error(err)
}

func (t *v5) disconnect(ctx context.Context) error {
	return t.cm.Disconnect(ctx)
}

func (t *v5) properties() bool { return true }

func (t *v5) subscriptionIDs() bool { return t.subIDs.Load() }

// v5ConnectError marks the CONNACK refusals that retrying cannot mend.
func v5ConnectError(err error) error {
	var ce *autopaho.ConnackError
	if !errors.As(err, &ce) {
		return err
	}
	reason := (&packets.Connack{ReasonCode: ce.ReasonCode}).Reason()
	switch ce.ReasonCode {
	case 0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C: // protocol, client ID, credentials, authorization, banned, auth method
		return fail(ErrRefused, "CONNACK reason 0x%02x (%s): %w", ce.ReasonCode, reason, err)
	}
	return fmt.Errorf("CONNACK reason 0x%02x (%s): %w", ce.ReasonCode, reason, err)
}

// v5Error gives paho's errors the Broker's own names: arguments the server
// cannot take (a QoS above its maximum, retain where it has none) are
// features it lacks; everything else is the connection's (see linkError).
func v5Error(err error) error {
	if errors.Is(err, paho.ErrInvalidArguments) {
		return failWith(ErrFeatureNotSupported, err)
	}
	return linkError(err)
}
