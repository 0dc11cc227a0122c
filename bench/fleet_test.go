package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

// fleetSizes are the fleets BenchmarkFleet asks; BENCH_FLEET=10000 (or any
// list) changes them, as 10,000 Brokers take a while to connect.
func fleetSizes() []int {
	sizes := []int{1000}
	if s := os.Getenv("BENCH_FLEET"); s != "" {
		sizes = nil
		for _, f := range splitFields(s) {
			n, err := strconv.Atoi(f)
			if err == nil {
				sizes = append(sizes, n)
			}
		}
	}
	return sizes
}

// BenchmarkFleet asks a fleet of service instances, each a Broker of its
// own on mosquitto as installed, for PING and INFO from one caller, as
// "ask every device for its firmware version" does: answered is the share
// of instances whose reply the caller got within the deadline (1 is all),
// dropped the replies the caller dropped, last-ms when the last reply came.
// The caller's loop decodes each reply, as a user's would, while the
// fleet's replies arrive in one burst.
func BenchmarkFleet(b *testing.B) {
	url := mosquittoStock.url(b)
	for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
		for _, n := range fleetSizes() {
			b.Run(fmt.Sprintf("v=%s/instances=%d", v, n), func(b *testing.B) {
				prefix := "fleet-" + token()
				startFleet(b, url, v, n, prefix)
				cli := connectFleetCaller(b, url, v, prefix)
				b.Run("verb=PING", func(b *testing.B) { askFleet[mqttrpc.ServicePing](b, cli, n) })
				b.Run("verb=INFO", func(b *testing.B) { askFleet[mqttrpc.ServiceInfo](b, cli, n) })
			})
		}
	}
}

// askFleet discovers the fleet once per iteration and reports how much of
// it answered.
func askFleet[T mqttrpc.ServicePing | mqttrpc.ServiceInfo](b *testing.B, cli *mqttrpc.Broker, n int) {
	var answered, dropped, lastMS float64
	for b.Loop() {
		before := cli.Stats().DroppedReplies
		start := time.Now()
		got := 0
		var last time.Duration
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for _, err := range mqttrpc.Discover[T](ctx, cli, "fleet", "", mqttrpc.MaxReplies(n), replyBuffer()) {
			if err != nil {
				b.Logf("discover: %v", err)
				continue
			}
			got++
			last = time.Since(start)
		}
		cancel()
		answered += float64(got) / float64(n)
		dropped += float64(cli.Stats().DroppedReplies - before)
		lastMS += float64(last.Milliseconds())
	}
	iterations := float64(b.N)
	b.ReportMetric(answered/iterations, "answered")
	b.ReportMetric(dropped/iterations, "dropped")
	b.ReportMetric(lastMS/iterations, "last-ms")
}

// replyBuffer is BENCH_GATHER_BUFFER as a ReplyBuffer option, to compare
// with a smaller buffer (256 was the fixed one before it was an option);
// else the default.
func replyBuffer() mqttrpc.RequestOption {
	n, _ := strconv.Atoi(os.Getenv("BENCH_GATHER_BUFFER"))
	return mqttrpc.ReplyBuffer(n) // 0: the default
}

// startFleet connects n Brokers, each running the service "fleet", from a
// few goroutines at once.
func startFleet(b *testing.B, url string, v mqttrpc.Version, n int, prefix string) {
	b.Helper()
	var wg sync.WaitGroup
	work := make(chan int)
	errs := make(chan error, 1)
	for range 32 {
		wg.Go(func() { // ends when work is closed
			for range work {
				if err := startInstance(b, url, v, prefix); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

func startInstance(b *testing.B, url string, v mqttrpc.Version, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inst, err := mqttrpc.Connect(ctx, url, mqttrpc.WithVersion(v), mqttrpc.WithDiscoveryPrefix(prefix))
	if err != nil {
		return err
	}
	cleanupClose(b, "fleet instance", inst.Close)
	svc, err := inst.Service(ctx, mqttrpc.ServiceConfig{Name: "fleet", Version: "1.0.0", Description: "one device of many",
		Metadata: map[string]string{"firmware": "4.2.1"}})
	if err != nil {
		return err
	}
	_, err = svc.Endpoint(ctx, "reboot", "dev/"+svc.ID()+"/reboot", mqttrpc.Typed(func(context.Context, string) (string, error) { return "ok", nil }))
	return err
}

func connectFleetCaller(b *testing.B, url string, v mqttrpc.Version, prefix string) *mqttrpc.Broker {
	cli, err := mqttrpc.Connect(context.Background(), url, mqttrpc.WithVersion(v), mqttrpc.WithDiscoveryPrefix(prefix), mqttrpc.WithoutDiscovery())
	if err != nil {
		b.Fatal(err)
	}
	cleanupClose(b, "fleet caller", cli.Close)
	return cli
}

// splitFields splits s at spaces and commas.
func splitFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
}
