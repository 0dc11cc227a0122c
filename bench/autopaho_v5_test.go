package bench

import (
	"context"
	"crypto/rand"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// setupAutopahoV5 is request/reply written by hand on paho.golang's autopaho
// connection manager (the layer mqttrpc itself runs on) the way a
// careful user would: one reply subscription per requester, a map from
// random Correlation Data to the waiting caller, and a responder that echoes
// to the Response Topic with the Correlation Data.
func setupAutopahoV5(tb testing.TB, rawURL string, qos byte) func(int) callFunc {
	prefix := "bench/" + token()
	startAutopahoResponder(tb, rawURL, prefix+"/echo", qos)
	r := newAutopahoRequester(tb, rawURL, prefix+"/reply/"+token())
	topic := prefix + "/echo"
	call := func(ctx context.Context, payload []byte) ([]byte, error) {
		return r.request(ctx, topic, qos, payload)
	}
	return func(int) callFunc { return call }
}

// autopahoRequester sends requests and matches replies by Correlation Data.
type autopahoRequester struct {
	cm         *autopaho.ConnectionManager
	replyTopic string

	mu      sync.Mutex
	waiting map[string]chan *paho.Publish
}

func newAutopahoRequester(tb testing.TB, rawURL, replyTopic string) *autopahoRequester {
	r := &autopahoRequester{replyTopic: replyTopic, waiting: make(map[string]chan *paho.Publish)}
	// QoS 1 on the reply subscription, so a reply sent at QoS 1 arrives so.
	r.cm = connectAutopaho(tb, rawURL, []paho.SubscribeOptions{{Topic: replyTopic, QoS: 1}}, r.received)
	return r
}

// received runs on paho's one delivery goroutine: it only hands the reply
// over, through a buffered channel, and never blocks.
func (r *autopahoRequester) received(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	if p.Topic != r.replyTopic || p.Properties == nil {
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

func (r *autopahoRequester) request(ctx context.Context, topic string, qos byte, payload []byte) ([]byte, error) {
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
	_, err := r.cm.Publish(ctx, &paho.Publish{
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

// startAutopahoResponder echoes every request on topic to its Response Topic.
func startAutopahoResponder(tb testing.TB, rawURL, topic string, qos byte) {
	var cm *autopaho.ConnectionManager
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
		if p.QoS == 0 {
			// A QoS 0 publish is one write and waits for nothing, so it is
			// safe, and cheapest, on paho's delivery goroutine.
			_, _ = cm.Publish(context.Background(), reply)
			return true, nil
		}
		// A QoS 1 publish waits for its PUBACK; on paho's one delivery
		// goroutine that would stall every other delivery (and the request's
		// own acknowledgement, sent after this returns), so hand it off.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			_, _ = cm.Publish(ctx, reply)
		}()
		return true, nil
	}
	cm = connectAutopaho(tb, rawURL, []paho.SubscribeOptions{{Topic: topic, QoS: qos}}, received)
}

// connectAutopaho connects an autopaho client that subscribes to subs on every
// connection, and returns once the first subscription is acknowledged.
func connectAutopaho(tb testing.TB, rawURL string, subs []paho.SubscribeOptions, onPublish func(paho.PublishReceived) (bool, error)) *autopaho.ConnectionManager {
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatal(err)
	}
	subscribed := make(chan error, 1)
	var once sync.Once
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		ConnectTimeout:                5 * time.Second,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			if len(subs) == 0 {
				once.Do(func() { subscribed <- nil })
				return
			}
			// OnConnectionUp must not block; subscribe on the side.
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs})
				once.Do(func() { subscribed <- err })
			}()
		},
		ClientConfig: paho.ClientConfig{
			ClientID:          "bench-" + token(),
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){onPublish},
		},
	}
	cm, err := autopaho.NewConnection(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	cleanupClose(tb, "paho", cm.Disconnect)
	select {
	case err := <-subscribed:
		if err != nil {
			tb.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		tb.Fatal("paho: no connection after 10s")
	}
	return cm
}
