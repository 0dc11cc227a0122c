package interop

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// TestDiscoveryWithMosquittoRR: the discovery topics are usable from any
// MQTT 5 client. mosquitto_rr publishes an empty request with a Response
// Topic to <prefix>/INFO/<name>/<id> and prints the one JSON reply.
func TestDiscoveryWithMosquittoRR(t *testing.T) {
	t.Parallel()
	c := newMosquittoClients(t)
	b := brokertest.Mosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	defer cancel()
	prefix := "interop/" + t.Name() + "/srv"
	srv, err := mqttrpc.Connect(ctx, b.URL, mqttrpc.WithDiscoveryPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	svc, err := srv.Service(ctx, mqttrpc.ServiceConfig{Name: "thermo", Version: "1.2.0", Metadata: map[string]string{"site": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Endpoint(ctx, "read", "interop/thermo/{sensor}", mqttrpc.Typed(func(context.Context, []byte) (float64, error) {
		return 21.5, nil
	})); err != nil {
		t.Fatal(err)
	}

	args := append(connArgs(b, mqttrpc.V5), "-t", prefix+"/INFO/thermo/"+svc.ID(), "-e", prefix+"-replies/rr", "-n", "-W", waitSecs, "-F", recordFormat)
	out, err := runOutput(exec.CommandContext(ctx, c.rr, args...))
	if err != nil {
		t.Fatal(err)
	}
	reply, err := parseRecord(out)
	if err != nil {
		t.Fatal(err)
	}
	if reply.ContentType != "application/json" {
		t.Errorf("content type %q", reply.ContentType)
	}
	var info mqttrpc.ServiceInfo
	if err := json.Unmarshal(reply.Body, &info); err != nil {
		t.Fatalf("%v: %s", err, reply.Body)
	}
	if info.ID != svc.ID() || info.Name != "thermo" || info.Version != "1.2.0" || info.Metadata["site"] != "7" ||
		len(info.Endpoints) != 1 || info.Endpoints[0].Filter != "interop/thermo/+" || info.Endpoints[0].ResponseSchema != "float64" {
		t.Errorf("INFO reply %s", reply.Body)
	}
}
