package brokertest

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Bridged is a hub mosquitto and leaf mosquittos, each leaf bridged to the
// hub (MQTT 5) for a list of topics in both directions: the way to spread
// clients over several mosquitto processes. It is not a cluster: every
// message between leaves passes through the hub, and the hub is a single
// point of failure.
type Bridged struct {
	Hub    *Broker
	Leaves []*Broker
}

// Nodes returns the hub and the leaves, hub first.
func (c *Bridged) Nodes() []*Broker {
	return append([]*Broker{c.Hub}, c.Leaves...)
}

// URLs returns the nodes' URLs, hub first.
func (c *Bridged) URLs() []string { return URLs(c.Nodes()) }

// URLs returns the brokers' URLs, in order.
func URLs(brokers []*Broker) []string {
	urls := make([]string, len(brokers))
	for i, b := range brokers {
		urls[i] = b.URL
	}
	return urls
}

// probeTopic is bridged too, so that MosquittoBridged can see the bridges work.
const probeTopic = "brokertest/probe"

// MosquittoBridged starts a hub and leaves mosquitto processes, bridging
// topics (filters, which may be shared: "$share/group/filter") between each
// leaf and the hub, and returns once a message published on each leaf
// reaches the hub and every other leaf. A shared filter bridged this way
// makes the leaf's bridge one member of the hub's group, and the hub one
// member of the leaf's: subscribers of the group on every node share its
// messages. Skip and CI rules are those of Mosquitto.
func MosquittoBridged(t testing.TB, leaves int, topics ...string) *Bridged {
	t.Helper()
	c := &Bridged{Hub: Mosquitto(t)}
	hub, err := url.Parse(c.Hub.URL)
	if err != nil {
		t.Fatal(err)
	}
	for i := range leaves {
		var conf strings.Builder
		fmt.Fprintf(&conf, "connection leaf%d\naddress %s\n", i+1, hub.Host)
		conf.WriteString("bridge_protocol_version mqttv50\ncleansession true\nrestart_timeout 1\n")
		for _, topic := range append(topics, probeTopic+"/#") {
			fmt.Fprintf(&conf, "topic %s both 2 \"\" \"\"\n", topic)
		}
		c.Leaves = append(c.Leaves, MosquittoWith(t, conf.String()))
	}
	c.awaitBridges(t)
	return c
}

// awaitBridges publishes on each leaf until the hub and every other leaf
// have the message.
func (c *Bridged) awaitBridges(t testing.TB) {
	t.Helper()
	nodes := c.Nodes()
	seen := make([]chan string, len(nodes))
	for i, n := range nodes {
		seen[i] = make(chan string, 64)
		ch := seen[i]
		cl := probeClient(t, n)
		defer cl.Disconnect(0)
		tok := cl.Subscribe(probeTopic+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
			select {
			case ch <- m.Topic():
			default:
			}
		})
		if !tok.WaitTimeout(startTimeout) || tok.Error() != nil {
			t.Fatalf("brokertest: probe subscribe on %s: %v", n.URL, tok.Error())
		}
	}
	deadline := time.Now().Add(4 * startTimeout)
	for li, leaf := range c.Leaves {
		cl := probeClient(t, leaf)
		defer cl.Disconnect(0)
		topic := fmt.Sprintf("%s/leaf%d", probeTopic, li+1)
		for i, ch := range seen {
			if nodes[i] == leaf {
				continue
			}
			for received := false; !received; {
				cl.Publish(topic, 1, false, "probe").WaitTimeout(startTimeout)
				select {
				case got := <-ch:
					received = got == topic
				case <-time.After(50 * time.Millisecond): // the bridge may not be up yet: publish again
				}
				if !received && time.Now().After(deadline) {
					t.Fatalf("brokertest: the bridges do not carry %s from %s to %s", topic, leaf.URL, nodes[i].URL)
				}
			}
		}
	}
}

func probeClient(t testing.TB, n *Broker) mqtt.Client {
	t.Helper()
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(n.URL).SetAutoReconnect(false).
		SetConnectTimeout(startTimeout))
	if tok := cl.Connect(); !tok.WaitTimeout(startTimeout) || tok.Error() != nil {
		t.Fatalf("brokertest: probe connect to %s: %v", n.URL, tok.Error())
	}
	return cl
}
