package brokertest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// natsStartTimeout bounds how long a nats-server node may take to open its
// MQTT listener, which comes after JetStream has started.
const natsStartTimeout = 20 * time.Second

func (b *Broker) startTimeout() time.Duration {
	if b.Name == "nats" {
		return natsStartTimeout
	}
	return startTimeout
}

// NATSCluster starts nodes nats-server processes routed into one cluster,
// each with JetStream (which NATS's MQTT needs) and an MQTT listener, and
// kills them in t.Cleanup. Each returned Broker's URL is a node's MQTT
// listener. The MQTT streams (sessions, messages) are kept on up to three
// nodes, so that they outlive any one node: left to itself, NATS sizes them
// by the nodes it sees when the first client connects, sometimes two of
// three. NATS speaks MQTT 3.1.1 only, and takes a "$share/..." filter for
// a plain topic. If nats-server is not installed it calls t.Skip, or
// t.Fatal when the environment variable CI is non-empty.
func NATSCluster(t testing.TB, nodes int) []*Broker {
	t.Helper()
	bin, ok := natsPath()
	if !ok {
		if os.Getenv("CI") != "" {
			t.Fatal("brokertest: nats-server required in CI")
		}
		t.Skip("brokertest: nats-server not installed")
	}
	type ports struct{ client, cluster, mqtt int }
	ps := make([]ports, nodes)
	for i := range ps {
		for _, p := range []*int{&ps[i].client, &ps[i].cluster, &ps[i].mqtt} {
			var err error
			if *p, err = freePort(); err != nil {
				t.Fatalf("brokertest: %v", err)
			}
		}
	}
	dir := t.TempDir()
	out := make([]*Broker, nodes)
	for i, p := range ps {
		var routes []string
		for j, other := range ps {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", other.cluster))
			}
		}
		name := fmt.Sprintf("n%d", i+1)
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
jetstream { store_dir: %q }
cluster { name: brokertest, listen: 127.0.0.1:%d, routes: [%s] }
mqtt { listen: 127.0.0.1:%d, stream_replicas: %d }
`, name, p.client, filepath.Join(dir, name), p.cluster, strings.Join(routes, ", "), p.mqtt, min(nodes, 3))
		b := &Broker{
			Name:   "nats",
			bin:    bin,
			conf:   filepath.Join(dir, name+".conf"),
			addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(p.mqtt)),
			stderr: new(syncBuffer),
		}
		b.URL = "mqtt://" + b.addr
		if err := os.WriteFile(b.conf, []byte(conf), 0o600); err != nil {
			t.Fatalf("brokertest: %v", err)
		}
		t.Cleanup(func() {
			b.kill()
			if t.Failed() && b.stderr.Len() > 0 {
				t.Logf("nats-server %s log:\n%s", name, b.stderr)
			}
		})
		out[i] = b
	}
	// The nodes wait for each other to form the JetStream cluster before
	// opening their MQTT listeners, so all start before any is awaited.
	errs := make(chan error, nodes)
	for _, b := range out {
		go func() { errs <- b.start() }()
	}
	for range out {
		if err := <-errs; err != nil {
			t.Fatalf("brokertest: start nats-server: %v", err)
		}
	}
	// The MQTT listener is open before JetStream can hold MQTT sessions:
	// until then, CONNECT fails after a few seconds.
	for _, b := range out {
		awaitMQTT(t, b, natsStartTimeout)
	}
	return out
}

// awaitMQTT waits until b accepts an MQTT 3.1.1 connection.
func awaitMQTT(t testing.TB, b *Broker, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetAutoReconnect(false).
			SetConnectTimeout(timeout))
		tok := cl.Connect()
		if tok.WaitTimeout(timeout) && tok.Error() == nil {
			cl.Disconnect(0)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("brokertest: %s at %s accepts no MQTT connection after %v: %v", b.Name, b.URL, timeout, tok.Error())
		}
	}
}

func natsPath() (string, bool) {
	for _, p := range []string{"nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"} {
		if p, err := exec.LookPath(p); err == nil {
			return p, true
		}
	}
	return "", false
}
