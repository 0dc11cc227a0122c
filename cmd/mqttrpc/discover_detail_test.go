package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

type reading struct {
	Celsius float64 `json:"celsius"`
}

// TestInfo_grouped: two instances that serve the same are printed once,
// with both ids, and info shows the QoS, shared group, reply topic and
// content types that INFO carries.
func TestInfo_grouped(t *testing.T) {
	url := mochi(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	prefix, base := topic("srv"), topic("thermo")
	read := mqttrpc.Typed(func(context.Context, reading) (reading, error) { return reading{21.5}, nil })
	var ids []string
	for range 2 {
		b := libBroker(t, url, mqttrpc.WithDiscoveryPrefix(prefix))
		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "thermo", Version: "1.0.0", Description: "reads temperatures"})
		require.NoError(t, err)
		_, err = svc.Endpoint(ctx, "read", base+"/{room}/read", read,
			mqttrpc.QoS(1), mqttrpc.Shared("readers"), mqttrpc.ReplyTopic(base+"/{room}/reading"))
		require.NoError(t, err)
		ids = append(ids, svc.ID())
	}
	r := cli(t, "", "info", "thermo", "-s", url, "--prefix", prefix)
	require.Equal(t, exitOK, r.code, r.stderr)
	t.Logf("info:\n%s", r.stdout)
	ids = sorted(ids)
	assert.Contains(t, r.stdout, "thermo 1.0.0, 2 instances: "+ids[0]+" "+ids[1]+"\n")
	assert.Equal(t, 1, strings.Count(r.stdout, "description: reads temperatures"), "one block for both")
	assert.Regexp(t, `(?m)^ +NAME +PATTERN +QOS +SHARED +REPLY TOPIC +REQUEST +RESPONSE +METADATA$`, r.stdout)
	assert.Regexp(t, `(?m)^ +read +`+regexp.QuoteMeta(base+"/{room}/read")+` +1 +readers +`+
		regexp.QuoteMeta(base+"/{room}/reading")+` +\S+ \(application/json\) +\S+ \(application/json\) +-$`, r.stdout)

	r = cli(t, "", "info", "thermo", ids[1], "-s", url, "--prefix", prefix)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "thermo 1.0.0, instance "+ids[1]+"\n")
}

// TestStats_refusedAndTotals: stats counts a request refused as
// overloaded, and adds up each instance's endpoints, and the instances.
func TestStats_refusedAndTotals(t *testing.T) {
	url := mochi(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	prefix, base := topic("srv"), topic("slow")
	entered, release := make(chan struct{}, 1), make(chan struct{})
	slow := mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
		entered <- struct{}{}
		<-release
		return &mqttrpc.Response{Body: "done"}, nil
	})
	ok := mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
		return &mqttrpc.Response{Body: "ok"}, nil
	})
	for i := range 2 {
		b := libBroker(t, url, mqttrpc.WithDiscoveryPrefix(prefix))
		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "slow", Version: "1.0.0"})
		require.NoError(t, err)
		if i == 0 {
			_, err = svc.Endpoint(ctx, "work", base+"/work", slow, mqttrpc.Concurrency(1), mqttrpc.QueueLimit(0))
			require.NoError(t, err)
		}
		_, err = svc.Endpoint(ctx, "quick", base+"/quick/"+string(rune('0'+i)), ok)
		require.NoError(t, err)
	}

	first := make(chan int, 1)
	go func() {
		first <- run(ctx, []string{"call", base + "/work", "-s", url}, strings.NewReader(""), newOutput(), newOutput())
	}()
	<-entered
	// With the one handler busy and no queue, the next is refused at once.
	r := cli(t, "", "call", base+"/work", "-s", url)
	assert.Equal(t, exitRemoteError, r.code, r.stderr)
	assert.Contains(t, r.stderr, "503")
	close(release)
	require.Equal(t, exitOK, <-first)
	for _, args := range [][]string{{base + "/quick/0"}, {base + "/quick/1"}, {base + "/quick/1"}} {
		require.Equal(t, exitOK, cli(t, "", append([]string{"call"}, append(args, "-s", url)...)...).code)
	}

	r = cli(t, "", "stats", "slow", "-s", url, "--prefix", prefix)
	require.Equal(t, exitOK, r.code, r.stderr)
	t.Logf("stats:\n%s", r.stdout)
	assert.Regexp(t, `(?m)^ +ENDPOINT +PATTERN +REQUESTS +ERRORS +REFUSED +AVERAGE +LAST ERROR$`, r.stdout)
	assert.Regexp(t, `(?m)^ +work +`+regexp.QuoteMeta(base+"/work")+` +1 +0 +1 +\S+ +-$`, r.stdout)
	assert.Regexp(t, `(?m)^ +total +2 +0 +1 +\S+$`, r.stdout, "work and quick/0")
	assert.Regexp(t, `(?m)^ +total +2 +0 +0 +\S+$`, r.stdout, "quick/1 twice")
	assert.Regexp(t, `(?m)^all 2 instances: 4 requests, 0 errors, 1 refused, average \S+$`, r.stdout)
}
