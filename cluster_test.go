package mqttrpc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// connectNode connects to node first, then to the others in order.
func connectNode(t *testing.T, v mqttrpc.Version, urls []string, node int, opts ...mqttrpc.Option) *mqttrpc.Broker {
	t.Helper()
	others := slices.Delete(slices.Clone(urls), node, node+1)
	opts = append([]mqttrpc.Option{mqttrpc.WithVersion(v), mqttrpc.WithServers(others...),
		mqttrpc.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond)}, opts...)
	b, err := mqttrpc.Connect(ctxTimeout(t, 10*time.Second), urls[node], opts...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, b.Close(ctxTimeout(t, 5*time.Second))) })
	return b
}

// TestBridgedSharedSubscriptions runs a service on three mosquitto
// processes, a hub and two leaves bridged with a $share-prefixed topic, one
// instance per node in one shared group, and callers on every node: each
// request is handled once, and answered correctly. Then a leaf dies: its
// clients, given every node's URL, move on and are answered again.
func TestBridgedSharedSubscriptions(t *testing.T) {
	t.Parallel()
	const prefix = "fleet"
	cluster := brokertest.MosquittoBridged(t, 2, "$share/svc/"+prefix+"/devices/+/echo", "mqttrpc/inbox/#")
	urls := cluster.URLs()
	var instances, callers []*mqttrpc.Broker
	for i := range urls {
		instances = append(instances, connectNode(t, mqttrpc.V5, urls, i))
		callers = append(callers, connectNode(t, mqttrpc.V5, urls, i))
	}
	log := newHandledLog()
	sharedEcho(t, mqttrpc.V5, instances, prefix, log)

	const n = 3000
	body := func(i int) string { return fmt.Sprint("req-", i) }
	elapsed := spreadCalls(t, callers, mqttrpc.V5, prefix, n, body)
	spread := log.check(t, n, body)
	t.Logf("hub and 2 leaves, 1 instance and 1 caller per node: %d requests in %v, handled by %v",
		n, elapsed.Round(time.Millisecond), spread)

	// A leaf dies; its instance and caller move to the next node.
	leaf := cluster.Leaves[1]
	moved := callers[2]
	killed := time.Now()
	leaf.Kill(t)
	// Each attempt bounded by 1 s: a request published just before the
	// caller notices the loss waits for its deadline.
	for attempt := 0; ; attempt++ {
		reply, err := moved.Request(ctxTimeout(t, 5*time.Second), prefix+"/devices/after/echo", fmt.Sprint(attempt),
			mqttrpc.QoS(1), mqttrpc.Timeout(time.Second))
		if err == nil {
			require.Equal(t, "after:"+fmt.Sprint(attempt), string(reply.Body))
			break
		}
		require.Less(t, time.Since(killed), 10*time.Second, "no request succeeded after the leaf died: %v", err)
	}
	recovery := time.Since(killed)
	t.Logf("leaf killed: its caller answered again %v later, now on %s", recovery.Round(time.Millisecond), moved.Server())
	assert.Less(t, recovery, 3*time.Second)
	// The leaf's instance moves too, perhaps later than its caller.
	require.Eventually(t, func() bool {
		return instances[2].State() == mqttrpc.StateConnected && instances[2].Server() != leaf.URL
	}, 10*time.Second, time.Millisecond)

	// All three instances serve on, from two nodes.
	log.reset()
	after := func(i int) string { return fmt.Sprint("after-kill-", i) }
	elapsed = spreadCalls(t, callers, mqttrpc.V5, prefix, 600, after)
	t.Logf("after the kill: 600 requests in %v, handled by %v", elapsed.Round(time.Millisecond), log.check(t, 600, after))
}

// spreadCalls sends n requests to sharedEcho's service, split between the
// callers, 16 at a time each, and returns how long they took.
func spreadCalls(t *testing.T, callers []*mqttrpc.Broker, v mqttrpc.Version, prefix string, n int, body func(int) string) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for c, cli := range callers {
		for g := range 16 {
			wg.Go(func() {
				for i := c + g*len(callers); i < n; i += 16 * len(callers) {
					assert.NoError(t, sharedCall(t, cli, v, prefix, fmt.Sprint(i%7), body(i)))
				}
			})
		}
	}
	wg.Wait()
	return time.Since(start)
}

// TestNATSClusterTokenReply runs MQTT 3.1.1 on a three-node nats-server
// cluster, which has no shared subscriptions: three instances of a service,
// one per node, each run every request, and each caller gets three replies.
// With TokenReply the first answers its request and the others are dropped:
// no reply answers the wrong request.
func TestNATSClusterTokenReply(t *testing.T) {
	t.Parallel()
	nodes := brokertest.NATSCluster(t, 3)
	urls := brokertest.URLs(nodes)
	const prefix = "fleet"
	var instances, callers []*mqttrpc.Broker
	for i := range urls {
		instances = append(instances, connectNode(t, mqttrpc.V311, urls, i))
		callers = append(callers, connectNode(t, mqttrpc.V311, urls, i))
	}
	log := newHandledLog()
	// QoS 0: NATS stores every QoS 1 message in JetStream, about 100
	// round trips/s here.
	echoService(t, mqttrpc.V311, instances, prefix, log, mqttrpc.QoS(0))

	// NATS makes a JetStream consumer for each QoS 1 subscription, which
	// takes it seconds: one request per caller first subscribes its reply
	// prefix (see tokenCall), with time for that.
	var warm sync.WaitGroup
	for c, cli := range callers {
		warm.Go(func() {
			reply, err := cli.Request(ctxTimeout(t, 30*time.Second), fmt.Sprintf("%s/devices/c%d/echo", prefix, c), "warm",
				mqttrpc.TokenReply(fmt.Sprintf("%s/replies/c%d", prefix, c)), mqttrpc.Timeout(20*time.Second))
			if assert.NoError(t, err) {
				assert.Equal(t, fmt.Sprintf("c%d:warm", c), string(reply.Body))
			}
		})
	}
	warm.Wait()
	// Every instance runs every warm-up request; the later copies may still run.
	require.Eventually(t, func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		return log.byInstance["instance-1"]+log.byInstance["instance-2"]+log.byInstance["instance-3"] == 3*len(callers)
	}, 10*time.Second, time.Millisecond)
	log.reset()

	const n = 3000
	body := func(i int) string { return fmt.Sprint("req-", i) }
	var wrong, failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for c, cli := range callers {
		for g := range 16 {
			wg.Go(func() {
				for i := c + g*len(callers); i < n; i += 16 * len(callers) {
					// Each caller its own reply prefix, so that it alone
					// receives the replies there.
					err := tokenCall(t, cli, prefix, fmt.Sprintf("c%d", c), body(i))
					switch {
					case err == nil:
					case errors.Is(err, mqttrpc.ErrTimeout):
						failed.Add(1)
					default:
						wrong.Add(1)
						t.Log(err)
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	var dropped uint64
	for _, cli := range callers {
		dropped += cli.Stats().DroppedReplies
	}
	log.mu.Lock()
	runs := 0
	for _, r := range log.runs {
		runs += r
	}
	t.Logf("nats-server 3-node cluster, MQTT 3.1.1, TokenReply, QoS 0: %d requests in %v from callers on every node; "+
		"%d handler runs over %d instances %v; %d wrong replies, %d timed out, %d extra replies dropped",
		n, elapsed.Round(time.Millisecond), runs, len(log.byInstance), log.byInstance, wrong.Load(), failed.Load(), dropped)
	log.mu.Unlock()
	assert.Zero(t, wrong.Load(), "no reply answers the wrong request")
	// At QoS 0 a loaded NATS node may drop a request or a reply: the
	// caller times out, which is all QoS 0 promises.
	assert.LessOrEqual(t, failed.Load(), int64(n/100))
}

// tokenCall is sharedCall on MQTT 3.1.1 at QoS 0.
func tokenCall(t *testing.T, cli *mqttrpc.Broker, prefix, id, body string) error {
	reply, err := cli.Request(ctxTimeout(t, 5*time.Second), prefix+"/devices/"+id+"/echo", body,
		mqttrpc.TokenReply(prefix+"/replies/"+id), mqttrpc.Timeout(2*time.Second))
	if err == nil && string(reply.Body) != id+":"+body {
		err = fmt.Errorf("request %s for %s got %q", body, id, reply.Body)
	}
	return err
}

// TestNATSClusterNodeKill runs MQTT 3.1.1 callers on every node of a
// three-node nats-server cluster against one responder, in both reply modes
// side by side, every Broker given every node. Then the node of one caller
// dies under traffic: that caller must move to another node and be answered
// again, and no request, in either mode, may ever get another's reply. It
// runs at QoS 0 and, with MQTTRPC_LONG=1, at QoS 1 too (another 25–30 s),
// each on a cluster of its own, one after the other so that their timings
// do not mix.
func TestNATSClusterNodeKill(t *testing.T) {
	t.Parallel()
	t.Run("QoS0", func(t *testing.T) { natsNodeKill(t, 0) })
	t.Run("QoS1", func(t *testing.T) {
		if os.Getenv("MQTTRPC_LONG") == "" {
			t.Skip("set MQTTRPC_LONG=1 to run")
		}
		natsNodeKill(t, 1)
	})
}

// natsNodeKill is TestNATSClusterNodeKill with requests, replies and the
// responder's subscriptions at qos. Besides the moved caller's recovery it
// logs, for each caller's node, how long after the kill it was answered
// again; how often the callers on the surviving nodes lost their
// connection; and the longest any caller went without an answer.
func natsNodeKill(t *testing.T, qos byte) {
	nodes := brokertest.NATSCluster(t, 3)
	urls := brokertest.URLs(nodes)
	const (
		prefix         = "failover"
		connectTimeout = 10 * time.Second
		backoffMax     = 200 * time.Millisecond // connectNode's
		deadline       = time.Second            // of each request
		killed         = 2                      // the node, and its caller
		pace           = 5 * time.Millisecond   // between the requests of each loop
	)
	changes := make(chan mqttrpc.StateChange, 16)
	responder := connectNode(t, mqttrpc.V311, urls, 0, mqttrpc.WithConnectTimeout(connectTimeout))
	var callers []*mqttrpc.Broker
	// The connections each caller lost: NATS may drop those on the
	// surviving nodes too while its JetStream groups elect new leaders.
	drops := make([]atomic.Int64, len(urls))
	for i := range urls {
		opts := []mqttrpc.Option{mqttrpc.WithConnectTimeout(connectTimeout),
			mqttrpc.WithStateHandler(func(s mqttrpc.StateChange) {
				if s.State == mqttrpc.StateDisconnected {
					drops[i].Add(1)
				}
				if i == killed {
					changes <- s
				}
			})}
		if i == killed {
			opts = append(opts, mqttrpc.WithLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))))
		}
		callers = append(callers, connectNode(t, mqttrpc.V311, urls, i, opts...))
	}
	require.Equal(t, mqttrpc.StateChange{State: mqttrpc.StateConnected, Server: urls[killed]}, receive(t, changes))

	log := newHandledLog()
	echo := mqttrpc.Typed(func(_ context.Context, m *mqttrpc.Message) (string, error) {
		log.record("responder", string(m.Body))
		return m.Param("id") + ":" + string(m.Body), nil
	})
	// At QoS 1 NATS stores every message in JetStream, and makes a
	// JetStream consumer for these subscriptions too.
	subscribe(t, responder, prefix+"/token/{id}/{token}", echo, mqttrpc.ReplyTopic(prefix+"/replies/{id}/{token}"), mqttrpc.QoS(qos))
	subscribe(t, responder, prefix+"/plain/{id}", echo, mqttrpc.ReplyTopic(prefix+"/plain-replies/{id}"), mqttrpc.QoS(qos))

	modes := []*natsMode{tokenMode(prefix, qos), replyToMode(prefix, qos)}
	var calls []*natsCaller
	for c, cli := range callers {
		for _, m := range modes {
			id := fmt.Sprintf("c%d-%s", c, m.name)
			for w := range m.workers {
				name := fmt.Sprintf("%s-%d", id, w) // so that the bodies of all requests differ
				calls = append(calls, &natsCaller{b: cli, node: c, mode: m, id: id, name: name})
			}
		}
	}
	// Each caller's first request subscribes its reply topic, and NATS
	// takes seconds to make the JetStream consumer behind it, one
	// subscription of a client after another.
	var warm sync.WaitGroup
	for _, c := range calls {
		warm.Go(func() { assert.NoError(t, c.call(c.name+"-warm", 2*connectTimeout)) })
	}
	warm.Wait()
	require.False(t, t.Failed())

	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			// Paced, so that the cluster leaves the CPUs to the tests
			// that run beside it.
			pace := time.NewTicker(pace)
			defer pace.Stop()
			c.lastOK = time.Now()
			for n := 0; !stop.Load(); n++ {
				<-pace.C
				start := time.Now()
				c.record(start, c.call(fmt.Sprintf("%s-%d", c.name, n), deadline))
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }() // on a failed require too
	// Every caller is answered in both modes, before the kill and after.
	allAnswered := func(since []int64) {
		require.Eventually(t, func() bool {
			for i, c := range calls {
				if c.ok.Load() < since[i]+10 {
					return false
				}
			}
			return true
		}, 4*connectTimeout, time.Millisecond)
	}
	allAnswered(make([]int64, len(calls)))

	dropsBefore := make([]int64, len(drops))
	for i := range drops {
		dropsBefore[i] = drops[i].Load()
	}
	killedAt := time.Now()
	nodes[killed].Kill(t)
	for _, c := range calls {
		c.watchFrom(time.Now()) // a request sent before may have been answered
	}
	// NATS keeps every MQTT session, clean ones too, in a JetStream stream,
	// and makes a JetStream consumer for each QoS 1 or 2 subscription (reply
	// topics are QoS 2). Until the groups the dead node led have elected
	// new leaders, the JetStream requests behind a CONNECT or SUBSCRIBE time
	// out, after 4 s each in nats-server 2.9: a CONNECT fails, a SUBSCRIBE is
	// refused. So allow two rounds of attempts on the live nodes, each up to
	// the connect timeout; restoring the subscriptions, as long again; and
	// two requests: one that subscribes a refused reply topic again, one
	// answered.
	bound := 2*(backoffMax+2*connectTimeout) + connectTimeout + 2*deadline
	require.Equal(t, mqttrpc.StateChange{State: mqttrpc.StateDisconnected, Server: urls[killed]}, receive(t, changes))
	var moved mqttrpc.StateChange
	select {
	case moved = <-changes:
	case <-time.After(bound):
		t.Fatalf("the caller of the killed node is not connected again %v after the kill", bound)
	}
	connectedAfter := time.Since(killedAt)
	require.Equal(t, mqttrpc.StateConnected, moved.State)
	require.Contains(t, urls[:killed], moved.Server, "moved to a live node")

	require.Eventually(t, func() bool {
		for _, c := range calls {
			if c.node == killed && c.firstOK.Load() == 0 {
				return false
			}
		}
		return true
	}, bound, time.Millisecond, "the caller of the killed node is not answered again")
	since := make([]int64, len(calls))
	for i, c := range calls {
		since[i] = c.ok.Load()
	}
	allAnswered(since)
	stop.Store(true)
	wg.Wait()
	stopped := time.Now()

	// Per caller's node: when it was first answered after the kill,
	// the connections it lost, and its longest wait for an answer.
	var survivorDrops int64
	var longest, survivorsLongest time.Duration
	for node := range nodes {
		again, gap := time.Duration(math.MaxInt64), time.Duration(0)
		for _, c := range calls {
			if c.node != node {
				continue
			}
			again = min(again, time.Duration(c.firstOK.Load()-killedAt.UnixNano()))
			gap = max(gap, c.maxGap, stopped.Sub(c.lastOK))
		}
		lost := drops[node].Load() - dropsBefore[node]
		if node != killed {
			survivorDrops += lost
			survivorsLongest = max(survivorsLongest, gap)
		}
		longest = max(longest, gap)
		t.Logf("QoS %d, caller on n%d: first answered %v after the kill, %d connections lost, longest without an answer %v",
			qos, node+1, again.Round(time.Millisecond), lost, gap.Round(time.Millisecond))
	}
	t.Logf("QoS %d: callers on the surviving nodes lost %d connections and went up to %v without an answer; longest of all callers %v",
		qos, survivorDrops, survivorsLongest.Round(time.Millisecond), longest.Round(time.Millisecond))

	for _, m := range modes {
		var ok, failed, wrong int64
		byNode := make([]int64, len(nodes))
		firstOK := bound
		for _, c := range calls {
			if c.mode != m {
				continue
			}
			ok, failed, wrong = ok+c.ok.Load(), failed+c.failed.Load(), wrong+c.wrong.Load()
			byNode[c.node] += c.ok.Load()
			if c.node == killed {
				firstOK = min(firstOK, time.Duration(c.firstOK.Load()-killedAt.UnixNano()))
			}
		}
		t.Logf("nats-server 3-node cluster, MQTT 3.1.1, %s, QoS %d, n%d killed: %d ok (by caller's node %v), %d failed, %d wrong replies; "+
			"the moved caller answered again %v after the kill",
			m.name, qos, killed+1, ok, byNode, failed, wrong, firstOK.Round(time.Millisecond))
		assert.Zero(t, wrong, "no %s request gets another's reply", m.name)
	}
	log.mu.Lock()
	var twice int
	for _, runs := range log.runs {
		if runs > 1 {
			twice++
		}
	}
	t.Logf("QoS %d, handled: %d requests ran once, %d more than once", qos, len(log.runs)-twice, twice)
	log.mu.Unlock()
	if qos == 0 {
		assert.Zero(t, twice, "QoS 0: no request runs twice")
	}
	t.Logf("failover, QoS %d: the caller of n%d connected to %s %v after the kill (bound %v)",
		qos, killed+1, moved.Server, connectedAfter.Round(time.Millisecond), bound)
	for _, cli := range callers {
		assert.Zero(t, mqttrpc.PendingRequests(cli))
	}
}

// natsMode is how a natsCaller names its reply topic.
type natsMode struct {
	name    string
	workers int // per caller, looping side by side
	opts    func(id string) []mqttrpc.RequestOption
	to      func(id string) string // the request topic
}

// tokenMode: the responder of TestNATSClusterNodeKill answers on
// <prefix>/replies/<id>/<token>.
func tokenMode(prefix string, qos byte) *natsMode {
	return &natsMode{
		name:    "TokenReply",
		workers: 2, // on one reply prefix
		opts: func(id string) []mqttrpc.RequestOption {
			return []mqttrpc.RequestOption{mqttrpc.TokenReply(prefix + "/replies/" + id), mqttrpc.QoS(qos)}
		},
		to: func(id string) string { return prefix + "/token/" + id },
	}
}

// replyToMode: one fixed reply topic, <prefix>/plain-replies/<id>.
func replyToMode(prefix string, qos byte) *natsMode {
	return &natsMode{
		name:    "ReplyTo",
		workers: 1, // one at a time on its reply topic
		opts: func(id string) []mqttrpc.RequestOption {
			return []mqttrpc.RequestOption{mqttrpc.ReplyTo(prefix + "/plain-replies/" + id), mqttrpc.QoS(qos)}
		},
		to: func(id string) string { return prefix + "/plain/" + id },
	}
}

// natsCaller is one looping caller of TestNATSClusterNodeKill and its counts.
type natsCaller struct {
	b    *mqttrpc.Broker
	node int
	mode *natsMode
	id   string // the request's {id} level, which names its reply topic
	name string // the first part of its bodies

	ok, failed, wrong atomic.Int64
	// When the first request sent after watchFrom's time was answered, in
	// unix nanoseconds; 0 before.
	watched, firstOK atomic.Int64
	// Kept by the caller's loop alone: when it was last answered (or
	// started), and the longest wait for an answer that ended after
	// watchFrom.
	lastOK time.Time
	maxGap time.Duration
}

// call sends body and checks that the reply is the echo of it.
func (c *natsCaller) call(body string, timeout time.Duration) error {
	reply, err := c.b.Request(context.Background(), c.mode.to(c.id), body,
		append(c.mode.opts(c.id), mqttrpc.Timeout(timeout))...)
	if err == nil && string(reply.Body) != c.id+":"+body {
		err = fmt.Errorf("%w: request %s got %q", errWrongReply, body, reply.Body)
	}
	return err
}

var errWrongReply = errors.New("wrong reply")

// record counts the outcome of a request sent at start.
func (c *natsCaller) record(start time.Time, err error) {
	switch {
	case errors.Is(err, errWrongReply):
		c.wrong.Add(1)
	case err != nil:
		c.failed.Add(1)
	default:
		c.ok.Add(1)
		now := time.Now()
		w := c.watched.Load()
		if w != 0 {
			c.maxGap = max(c.maxGap, now.Sub(c.lastOK))
		}
		c.lastOK = now
		if w != 0 && start.UnixNano() >= w {
			c.firstOK.CompareAndSwap(0, time.Now().UnixNano())
		}
	}
}

// watchFrom makes the first answered request sent at t or later set firstOK.
func (c *natsCaller) watchFrom(t time.Time) { c.watched.Store(t.UnixNano()) }
