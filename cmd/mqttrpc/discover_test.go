package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// fleet is what startFleet started: two services in three instances.
type fleet struct {
	prefix  string    // the discovery prefix they answer under
	orders  [2]string // the ids of the two instances of "orders"
	billing string    // the id of the one instance of "billing"
	base    string    // the topic prefix of their endpoints
}

// startFleet starts, on the broker at url, two instances of the service
// "orders" on two connections, and one of "billing" beside the first, all
// answering discovery under a prefix of their own. Instance i of orders
// serves "create" on <base>/orders/<i>/{item}, so that a call reaches one
// instance alone.
func startFleet(t *testing.T, url string) fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	f := fleet{prefix: topic("srv"), base: topic("svc")}
	ok := mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
		return &mqttrpc.Response{Body: "ok"}, nil
	})
	var brokers [2]*mqttrpc.Broker
	for i := range brokers {
		b := libBroker(t, url, mqttrpc.WithDiscoveryPrefix(f.prefix))
		brokers[i] = b

		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{
			Name: "orders", Version: "1.2.0", Description: "takes orders",
			Metadata: map[string]string{"region": "eu"},
		})
		require.NoError(t, err)
		_, err = svc.Endpoint(ctx, "create", fmt.Sprintf("%s/orders/%d/{item}", f.base, i), ok)
		require.NoError(t, err)
		_, err = svc.Endpoint(ctx, "cancel", fmt.Sprintf("%s/orders/%d/cancel", f.base, i), ok)
		require.NoError(t, err)
		f.orders[i] = svc.ID()
	}
	svc, err := brokers[0].Service(ctx, mqttrpc.ServiceConfig{Name: "billing", Version: "0.3.1"})
	require.NoError(t, err)
	_, err = svc.Endpoint(ctx, "charge", f.base+"/billing/charge", ok)
	require.NoError(t, err)
	f.billing = svc.ID()
	return f
}

// lines returns the lines of s, without the last newline.
func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// TestDiscover runs ls, ping, info and stats against three instances of
// two services, on each broker.
func TestDiscover(t *testing.T) {
	for name, url := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := startFleet(t, url)
			conn := []string{"-s", url, "--prefix", f.prefix}
			discover := func(args ...string) result {
				t.Helper()
				r := cli(t, "", append(args, conn...)...)
				require.Equal(t, exitOK, r.code, "%q: %s", args, r.stderr)
				assert.Empty(t, r.stderr, "%q", args)
				return r
			}

			t.Run("ls", func(t *testing.T) {
				r := discover("ls")
				got := lines(r.stdout)
				require.Len(t, got, 3, r.stdout)
				assert.Contains(t, got[0], "billing")
				assert.Regexp(t, `^billing +0\.3\.1 +`+f.billing+` +-$`, got[0])
				for _, l := range got[1:] {
					assert.Regexp(t, `^orders +1\.2\.0 +[0-9a-f]{16} +takes orders$`, l)
				}

				r = discover("ls", "orders")
				got = lines(r.stdout)
				require.Len(t, got, 2, r.stdout)
				assert.NotContains(t, r.stdout, "billing")

				var infos []mqttrpc.ServiceInfo
				require.NoError(t, json.Unmarshal([]byte(discover("ls", "--json").stdout), &infos))
				require.Len(t, infos, 3)
				assert.Equal(t, "billing", infos[0].Name)
			})

			t.Run("ping", func(t *testing.T) {
				r := discover("ping")
				assert.Len(t, lines(r.stdout), 3, r.stdout)

				r = discover("ping", "orders", f.orders[1])
				got := lines(r.stdout)
				require.Len(t, got, 1, r.stdout)
				assert.Regexp(t, `^orders +1\.2\.0 +`+f.orders[1]+` +[0-9.]+[µm]?s$`, got[0])

				var pings []struct {
					ID  string `json:"id"`
					RTT int64  `json:"rtt"`
				}
				require.NoError(t, json.Unmarshal([]byte(discover("ping", "billing", f.billing, "--json").stdout), &pings))
				require.Len(t, pings, 1)
				assert.Equal(t, f.billing, pings[0].ID)
				assert.Positive(t, pings[0].RTT)
			})

			t.Run("info", func(t *testing.T) {
				r := discover("info", "orders")
				for i, id := range f.orders {
					assert.Contains(t, r.stdout, "orders 1.2.0, instance "+id+"\n")
					assert.Contains(t, r.stdout, fmt.Sprintf("%s/orders/%d/{item}", f.base, i))
					assert.Contains(t, r.stdout, fmt.Sprintf("%s/orders/%d/cancel", f.base, i))
				}
				assert.Contains(t, r.stdout, "metadata: region=eu")
				assert.Contains(t, r.stdout, "description: takes orders")
				assert.NotContains(t, r.stdout, "billing")

				var infos []mqttrpc.ServiceInfo
				require.NoError(t, json.Unmarshal([]byte(discover("info", "billing", f.billing, "--json").stdout), &infos))
				require.Len(t, infos, 1)
				require.Len(t, infos[0].Endpoints, 1)
				assert.Equal(t, f.base+"/billing/charge", infos[0].Endpoints[0].Pattern)
			})

			t.Run("stats", func(t *testing.T) {
				requests := func() uint64 {
					t.Helper()
					var stats []mqttrpc.ServiceStats
					require.NoError(t, json.Unmarshal([]byte(discover("stats", "orders", f.orders[0], "--json").stdout), &stats))
					require.Len(t, stats, 1)
					for _, e := range stats[0].Endpoints {
						if e.Name == "create" {
							return e.Requests
						}
					}
					t.Fatalf("no endpoint create in %+v", stats[0])
					return 0
				}
				before := requests()
				r := cli(t, "", "call", f.base+"/orders/0/book", "-s", url)
				require.Equal(t, result{exitOK, "ok\n", ""}, r)
				assert.Equal(t, before+1, requests())

				r = discover("stats", "orders", f.orders[0])
				assert.Contains(t, r.stdout, "orders 1.2.0, instance "+f.orders[0]+"\n")
				assert.Regexp(t, `(?m)^ +create +`+f.base+`/orders/0/\{item\} +`+fmt.Sprint(before+1)+` +0 +`, r.stdout)
			})
		})
	}
}

// TestDiscover_nobody asks where no service answers: exit 3, as a call's
// timeout, with one line on stderr and nothing on stdout.
// TestDiscover_v311: on MQTT 3.1.1 the discovery commands find a service
// that serves on 3.1.1.
func TestDiscover_v311(t *testing.T) {
	for name, url := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			prefix := topic("srv")
			b := libBroker(t, url, mqttrpc.WithVersion(mqttrpc.V311), mqttrpc.WithDiscoveryPrefix(prefix))
			svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "meter", Version: "2.0.0"})
			require.NoError(t, err)

			r := cli(t, "", "ls", "-V", "3.1.1", "-s", url, "--prefix", prefix)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Regexp(t, `^meter +2\.0\.0 +`+svc.ID()+` +-\n$`, r.stdout)
		})
	}
}

func TestDiscover_nobody(t *testing.T) {
	for name, url := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{
				{"ls"},
				{"ping", "orders", "0123456789abcdef"},
				{"info", "orders"},
				{"stats", "orders", "--json"},
				{"docs"},
			} {
				r := cli(t, "", append(args, "-s", url, "--prefix", topic("srv"), "--timeout", "200ms")...)
				assert.Equal(t, exitTimeout, r.code, "%q: %s", args, r.stderr)
				assert.Empty(t, r.stdout, "%q", args)
				assert.Len(t, lines(r.stderr), 1, "%q: %s", args, r.stderr)
				assert.Contains(t, r.stderr, "answered within 200ms", "%q", args)
			}
		})
	}
}
