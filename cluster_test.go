package mqttrpc_test

import (
	"errors"
	"fmt"
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
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.URL
	}
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
