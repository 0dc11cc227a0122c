package mqttrpc_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// states returns a state handler and a channel that gets each state the
// Broker enters, so that a test waits on the change itself.
func states() (mqttrpc.Option, <-chan mqttrpc.ConnState) {
	ch := make(chan mqttrpc.ConnState, 64)
	return mqttrpc.WithStateHandler(func(s mqttrpc.StateChange) { ch <- s.State }), ch
}

// awaitReaching waits until ch reports want, passing over other states.
func awaitReaching(t *testing.T, ch <-chan mqttrpc.ConnState, want mqttrpc.ConnState) {
	t.Helper()
	for {
		if receive(t, ch) == want {
			return
		}
	}
}

// awaitSeen waits until ch has given each of want, in any order (the
// sniffer's handlers run concurrently), and nothing else.
func awaitSeen(t *testing.T, ch <-chan string, want ...string) {
	t.Helper()
	left := make(map[string]bool, len(want))
	for _, w := range want {
		left[w] = true
	}
	for len(left) > 0 {
		v := receive(t, ch)
		require.True(t, left[v], "%q seen, want one of %v", v, left)
		delete(left, v)
	}
}

// TestStreamAcrossBrokerRestart runs a QoS 1 stream between a service and a
// caller that keep their sessions (WithSessionExpiry) through two restarts
// of a persistent mosquitto. Five responses come; the caller's link is cut;
// the broker is stopped, and the handler sends the other five while its own
// connection is down; the broker comes back and the service reconnects and
// publishes them, for the broker to queue in the caller's session; the
// broker is restarted once more with them queued; then the caller comes
// back. It gets all ten, in order, each once, and the stream's end.
func TestStreamAcrossBrokerRestart(t *testing.T) {
	mq := brokertest.MosquittoPersistent(t)
	seq := topicSeq.Add(1)
	backoff := mqttrpc.WithReconnectBackoff(20*time.Millisecond, 100*time.Millisecond)
	session := mqttrpc.WithSessionExpiry(time.Minute)

	srvState, srvStates := states()
	srv, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), mq.URL, backoff, session, srvState,
		mqttrpc.WithClientID(fmt.Sprintf("stream-svc-%d", seq)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close(context.Background()) })

	proxy := brokertest.NewProxy(t, mq) // the caller's link, cut while it is away
	cliState, cliStates := states()
	cli, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), proxy.URL, backoff, session, cliState,
		mqttrpc.WithClientID(fmt.Sprintf("stream-cli-%d", seq)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close(context.Background()) })

	// A third client, with a session of its own, sees the responses the
	// service publishes to the caller's reply topic (a Subscriber takes the
	// stream's end for a control message and passes it over): the broker
	// has queued a response for the caller once it has it.
	tp := fmt.Sprintf("test/%d/stream-restart", seq)
	replyTo := tp + "/reply"
	sniffer, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), mq.URL, backoff, session,
		mqttrpc.WithClientID(fmt.Sprintf("stream-sniff-%d", seq)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sniffer.Close(context.Background()) })
	// It tells each response once: at QoS 1 the broker sends again, after
	// a restart, what it had not seen acknowledged before it stopped.
	seen := make(chan string, 64)
	var seenMu sync.Mutex
	told := make(map[string]bool)
	subscribe(t, sniffer, replyTo, mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		seenMu.Lock()
		defer seenMu.Unlock()
		if v := m.Headers["__stream"]; !told[v] {
			told[v] = true
			seen <- v
		}
		return nil, nil
	}), mqttrpc.NoReply(), mqttrpc.QoS(1))

	const total, half = 10, 5
	paused, resume, returned := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	subscribe(t, srv, tp, mqttrpc.StreamFunc(func(ctx context.Context, _ *mqttrpc.Message, s *mqttrpc.Sender) error {
		err := func() error {
			for i := range total {
				if i == half {
					close(paused)
					<-resume
				}
				if err := s.Send(strconv.Itoa(i)); err != nil {
					return err
				}
			}
			return nil
		}()
		returned <- err
		return err
	}), mqttrpc.QoS(1))

	type got struct {
		index int
		body  string
		err   error
	}
	responses := make(chan got, 64)
	go func() {
		defer close(responses)
		for m, err := range cli.Stream(context.Background(), tp, "go", mqttrpc.QoS(1), mqttrpc.ReplyTo(replyTo),
			mqttrpc.IdleTimeout(30*time.Second)) {
			if err != nil {
				responses <- got{err: err}
				return
			}
			responses <- got{index: m.StreamIndex(), body: string(m.Body)}
		}
	}()
	for i := range half {
		r := receive(t, responses)
		require.NoError(t, r.err)
		assert.Equal(t, got{index: i, body: strconv.Itoa(i)}, r)
	}
	awaitSeen(t, seen, "d:0", "d:1", "d:2", "d:3", "d:4")
	receive(t, paused)

	proxy.Cut() // the caller goes away; its session stays
	awaitReaching(t, cliStates, mqttrpc.StateDisconnected)
	mq.Stop(t) // saves the sessions
	awaitReaching(t, srvStates, mqttrpc.StateDisconnected)
	close(resume) // the handler sends while the service is disconnected
	mq.Restart(t)
	awaitReaching(t, srvStates, mqttrpc.StateConnected)
	require.NoError(t, receive(t, returned), "the handler's sends waited for the connection")
	awaitSeen(t, seen, "d:5", "d:6", "d:7", "d:8", "d:9") // the broker has them
	settle(t, srv)                                        // and the stream's end: the call's task ends once it is acknowledged

	mq.Stop(t) // with the responses queued for the caller
	mq.Restart(t)
	proxy.Restore()
	awaitReaching(t, cliStates, mqttrpc.StateConnected)
	for i := half; i < total; i++ {
		r := receive(t, responses)
		require.NoError(t, r.err)
		assert.Equal(t, got{index: i, body: strconv.Itoa(i)}, r)
	}
	r, more := <-responses
	assert.False(t, more, "the stream ended after its last response, got %+v", r)
	st := cli.Stats()
	assert.Equal(t, uint64(1), st.StreamsCompleted)
	t.Logf("caller: %d responses dropped as repeats, %d replies dropped", st.StreamResponsesDropped, st.DroppedReplies)
}
