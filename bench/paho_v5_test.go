package bench

import (
	"context"
	"crypto/rand"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// setupPahoV5 is request/reply hand-rolled on a bare paho.golang
// paho.Client, without autopaho: the least a competent user would write, and
// so the baseline mqttrpc's MQTT 5 figures are compared with. The requester
// has one wildcard reply subscription and a map from random Correlation Data
// to the waiting caller; the responder hands every request off its router
// goroutine, as any handler that does real work must, and echoes it to the
// Response Topic with the Correlation Data.
func setupPahoV5(tb testing.TB, rawURL string, qos byte) func(int) callFunc {
	prefix := "bench/" + token()
	topic := prefix + "/echo"
	startPahoResponder(tb, rawURL, topic, qos)
	r := newPahoRequester(tb, rawURL, prefix+"/inbox/"+token())
	call := func(ctx context.Context, payload []byte) ([]byte, error) {
		return r.request(ctx, topic, qos, payload)
	}
	return func(int) callFunc { return call }
}

// pahoRequester sends requests on a bare paho.Client and matches replies by
// Correlation Data.
type pahoRequester struct {
	c          *paho.Client
	replyTopic string // one level under the wildcard subscription

	mu      sync.Mutex
	waiting map[string]chan *paho.Publish
}

func newPahoRequester(tb testing.TB, rawURL, inbox string) *pahoRequester {
	r := &pahoRequester{replyTopic: inbox + "/reply", waiting: make(map[string]chan *paho.Publish)}
	// QoS 1 on the reply subscription, so a reply sent at QoS 1 arrives so.
	r.c = connectBarePaho(tb, rawURL, []paho.SubscribeOptions{{Topic: inbox + "/+", QoS: 1}}, r.received)
	return r
}

// received runs on paho's one router goroutine: it only hands the reply
// over, through a buffered channel, and never blocks.
func (r *pahoRequester) received(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	if p.Properties == nil {
		return false, nil
	}
	r.mu.Lock()
	ch, ok := r.waiting[string(p.Properties.CorrelationData)]
	if ok {
		delete(r.waiting, string(p.Properties.CorrelationData))
	}
	r.mu.Unlock()
	if ok {
		ch <- p
	}
	return true, nil
}

func (r *pahoRequester) request(ctx context.Context, topic string, qos byte, payload []byte) ([]byte, error) {
	// Random rather than a counter, so that another client cannot guess
	// which correlation data a pending request waits for.
	cd := make([]byte, 16)
	_, _ = rand.Read(cd)
	key := string(cd)
	ch := make(chan *paho.Publish, 1)
	r.mu.Lock()
	r.waiting[key] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, key)
		r.mu.Unlock()
	}()
	_, err := r.c.Publish(ctx, &paho.Publish{
		Topic:   topic,
		QoS:     qos,
		Payload: payload,
		Properties: &paho.PublishProperties{
			ResponseTopic:   r.replyTopic,
			CorrelationData: cd,
		},
	})
	if err != nil {
		return nil, err
	}
	select {
	case p := <-ch:
		return p.Payload, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startPahoResponder echoes every request on topic to its Response Topic,
// each from a goroutine of its own: paho calls handlers one after another on
// its router goroutine and sends the request's acknowledgement only when the
// handler returns, so a handler that works (or waits for its reply's PUBACK)
// there stalls every other delivery.
func startPahoResponder(tb testing.TB, rawURL, topic string, qos byte) {
	var c *paho.Client
	received := func(pr paho.PublishReceived) (bool, error) {
		p := pr.Packet
		if p.Properties == nil || p.Properties.ResponseTopic == "" {
			return false, nil
		}
		reply := &paho.Publish{
			Topic:      p.Properties.ResponseTopic,
			QoS:        p.QoS,
			Payload:    p.Payload,
			Properties: &paho.PublishProperties{CorrelationData: p.Properties.CorrelationData},
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			_, _ = c.Publish(ctx, reply)
		}()
		return true, nil
	}
	c = connectBarePaho(tb, rawURL, []paho.SubscribeOptions{{Topic: topic, QoS: qos}}, received)
}

// connectBarePaho dials rawURL over plain TCP, connects a paho.Client with a
// clean session, subscribes to subs and waits for the SUBACK. It does not
// reconnect: the benchmarks never drop a connection.
func connectBarePaho(tb testing.TB, rawURL string, subs []paho.SubscribeOptions, onPublish func(paho.PublishReceived) (bool, error)) *paho.Client {
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		tb.Fatal(err)
	}
	id := "bench-" + token()
	c := paho.NewClient(paho.ClientConfig{
		ClientID:          id,
		Conn:              conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){onPublish},
	})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}); err != nil {
		_ = conn.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	if len(subs) > 0 {
		if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}
