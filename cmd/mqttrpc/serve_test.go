package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// TestServe_execEnvironment runs a command that prints what its
// environment says about the request: pattern parameters, headers and
// Correlation Data, with the body on its standard input.
func TestServe_execEnvironment(t *testing.T) {
	url := mochi(t)
	base := topic("devices")
	serve(t, base+"/{id}/{rest...}", "-s", url, "--exec",
		`printf '%s|%s|%s|%s|%s|%s' "$MQTTRPC_PARAM_ID" "$MQTTRPC_PARAM_REST" "$MQTTRPC_HEADER_TRACE_ID" `+
			`"$MQTTRPC_CORRELATION_ID" "$MQTTRPC_TOPIC" "$(cat)"`)

	r := cli(t, "", "call", base+"/42/fw/update", "body text", "-s", url,
		"-H", "trace-id=abc", "--correlation-id", "c-1")
	assert.Equal(t, result{exitOK, "42|fw/update|abc|c-1|" + base + "/42/fw/update|body text\n", ""}, r)
}

// TestServe_execFailure runs a command that fails: its caller gets an
// error reply with the command's stderr, and exits 1.
func TestServe_execFailure(t *testing.T) {
	url := mochi(t)
	tp := topic("fail")
	serve(t, tp, "-s", url, "--exec", "cat >/dev/null; echo '  disk full  ' >&2; exit 3")

	r := cli(t, "", "call", tp, "x", "-s", url)
	assert.Equal(t, exitRemoteError, r.code)
	assert.Equal(t, "mqttrpc call: request \""+tp+"\": remote error 500: disk full\n", r.stderr)
	assert.Empty(t, r.stdout)
}

// TestServe_execTimeout runs a command past --timeout: its caller gets a
// 408 at once, and the command and what it started are killed, so serve
// drains and exits when the test ends.
func TestServe_execTimeout(t *testing.T) {
	url := mochi(t)
	tp := topic("slow")
	serve(t, tp, "-s", url, "--timeout", "200ms", "--exec", "sleep 30 & sleep 30; wait")

	r := cli(t, "", "call", tp, "-s", url, "--timeout", "10s")
	assert.Equal(t, exitRemoteError, r.code, r.stderr)
	assert.Contains(t, r.stderr, "remote error 408")
}

// TestServe_fixedReply answers with --reply.
func TestServe_fixedReply(t *testing.T) {
	url := mochi(t)
	tp := topic("fixed")
	serve(t, tp, "-s", url, "--reply", `{"ok":true}`, "--type", "json")

	r := cli(t, "", "call", tp, "-s", url, "-v")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, `{"ok":true}`+"\n", r.stdout)
	assert.Contains(t, r.stderr, "content-type: application/json")
}

// instanceRE finds the instance id in the line serve writes once serving.
var instanceRE = regexp.MustCompile(`, instance ([0-9a-f]{16}), on `)

// instanceOf returns the instance id in serve's stderr.
func instanceOf(t *testing.T, stderr string) string {
	t.Helper()
	m := instanceRE.FindStringSubmatch(stderr)
	require.NotNil(t, m, "no instance id in %q", stderr)
	return m[1]
}

// TestServe_discovery serves PATTERN as an endpoint of a named service, and
// finds it with ls, info, stats and docs on each broker: its identity, its
// endpoint with the pattern and the serving options, and the requests it
// served.
func TestServe_discovery(t *testing.T) {
	for name, url := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			base, prefix := topic("devices"), topic("srv")
			conn := []string{"-s", url, "--prefix", prefix}
			stderr := serve(t, append([]string{base + "/{id}/reboot", "--echo", "-q", "1",
				"--service", "devices", "--service-version", "1.4.2", "--description", "reboots devices",
				"--endpoint", "reboot"}, conn...)...)
			id := instanceOf(t, stderr)
			assert.Contains(t, stderr, " as endpoint reboot of service devices 1.4.2, instance "+id+", on ")
			discover := func(args ...string) string {
				t.Helper()
				r := cli(t, "", append(args, conn...)...)
				require.Equal(t, exitOK, r.code, "%q: %s", args, r.stderr)
				return r.stdout
			}

			assert.Regexp(t, `^devices +1\.4\.2 +`+id+` +reboots devices\n$`, discover("ls"))

			var infos []mqttrpc.ServiceInfo
			require.NoError(t, json.Unmarshal([]byte(discover("info", "devices", "--json")), &infos))
			require.Len(t, infos, 1)
			require.Len(t, infos[0].Endpoints, 1)
			e := infos[0].Endpoints[0]
			assert.Equal(t, "reboot", e.Name)
			assert.Equal(t, base+"/{id}/reboot", e.Pattern)
			assert.Equal(t, base+"/+/reboot", e.Filter)
			assert.Equal(t, byte(1), e.QoS)

			for _, device := range []string{"1", "2"} {
				r := cli(t, "", "call", base+"/"+device+"/reboot", "now", "-s", url)
				require.Equal(t, result{exitOK, "now\n", ""}, r)
			}
			assert.Regexp(t, `(?m)^ +reboot +`+base+`/\{id\}/reboot +2 +0 +`, discover("stats", "devices", id))

			j := discover("docs", "devices", "--json")
			var doc asyncDoc
			require.NoError(t, json.Unmarshal([]byte(j), &doc))
			assert.Equal(t, base+"/{id}/reboot", doc.Channels["devices.reboot"]["address"])
			assert.Contains(t, doc.Operations, "devices.reboot")
			requireValidAsyncAPI(t, map[string][]byte{"serve.json": []byte(j)})
		})
	}
}

// TestServe_discoveryDefaults: without the discovery flags, serve is found
// as endpoint "default" of service mqttrpc-serve 0.0.0, on MQTT 3.1.1 too.
func TestServe_discoveryDefaults(t *testing.T) {
	for name, url := range brokers(t) {
		for _, version := range []string{"5", "3.1.1"} {
			t.Run(name+"/"+version, func(t *testing.T) {
				tp := topic("echo")
				conn := []string{"-s", url, "-V", version}
				id := instanceOf(t, serve(t, append([]string{tp, "--echo", "-r", tp + "/replies"}, conn...)...))

				r := cli(t, "", append([]string{"ls"}, conn...)...)
				require.Equal(t, exitOK, r.code, r.stderr)
				assert.Regexp(t, `^mqttrpc-serve +0\.0\.0 +`+id+` +-\n$`, r.stdout)

				r = cli(t, "", append([]string{"info", "mqttrpc-serve", id}, conn...)...)
				require.Equal(t, exitOK, r.code, r.stderr)
				assert.Regexp(t, `(?m)^ +default +`+tp+` +`, r.stdout)
			})
		}
	}
}

// TestServe_noDiscovery serves with --no-discovery: calls are answered,
// and discovery finds nobody.
func TestServe_noDiscovery(t *testing.T) {
	url := mochi(t)
	tp := topic("hidden")
	stderr := serve(t, tp, "--reply", "here", "--no-discovery", "-s", url)
	assert.NotContains(t, stderr, "instance")

	assert.Equal(t, result{exitOK, "here\n", ""}, cli(t, "", "call", tp, "-s", url))
	r := cli(t, "", "ls", "-s", url, "--timeout", "200ms")
	assert.Equal(t, exitTimeout, r.code, r.stderr)
}

// TestServe_badService: a service the library rejects exits 2, saying
// which part is wrong, and serves nothing.
func TestServe_badService(t *testing.T) {
	url := mochi(t)
	tests := []struct {
		flag, value, wantErr string
	}{
		{"--service", "my service", `name "my service": use letters, digits, '-' and '_'`},
		{"--service-version", "1.0", `version "1.0" is not a semantic version such as 1.0.0`},
		{"--endpoint", "re/boot", `endpoint name "re/boot": use letters, digits, '-' and '_'`},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			tp := topic("bad")
			r := cli(t, "", "serve", tp, "--echo", tt.flag, tt.value, "-s", url)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.Regexp(t, `^mqttrpc serve: service "[^"]+": invalid service: `+regexp.QuoteMeta(tt.wantErr)+"\n$", r.stderr)
			assert.Empty(t, r.stdout)
		})
	}
}

// TestServe_overlapsDiscovery: on MQTT 3.1.1 a pattern that overlaps the
// discovery filters is refused, with the way out; --no-discovery serves it.
func TestServe_overlapsDiscovery(t *testing.T) {
	url := mochi(t)
	args := []string{"serve", "{site}/{device}/{cmd}", "--echo", "-V", "3.1.1", "-r", "replies", "-s", url}
	r := cli(t, "", args...)
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, `overlaps "mqttrpc/srv/+"`)
	assert.Contains(t, r.stderr, "(--no-discovery serves PATTERN without discovery)\n")

	serve(t, append(args[1:], "--no-discovery")...)
}

// TestServe_discoveryRefused: a broker that refuses the discovery
// subscriptions, as mosquitto's dynamic security plugin does for a role
// that may subscribe to anything else, fails serve with the way out, and
// --no-discovery serves.
func TestServe_discoveryRefused(t *testing.T) {
	plugin, ok := dynsecPlugin()
	if !ok {
		t.Skip("mosquitto dynamic security plugin not installed")
	}
	conf := `{
  "roles": [{"rolename": "no-discovery", "acls": [{"acltype": "subscribePattern", "topic": "mqttrpc/srv/#", "allow": false}]}],
  "groups": [{"groupname": "anonymous", "roles": [{"rolename": "no-discovery"}]}],
  "anonymousGroup": "anonymous",
  "defaultACLAccess": {"publishClientSend": true, "publishClientReceive": true, "subscribe": true, "unsubscribe": true}
}`
	url := "mqtt://" + mosquittoWith(t, "user root\n"+ // read the test's files as the test does
		"plugin "+plugin+"\nplugin_opt_config_file "+writeFile(t, "dynamic-security.json", conf)+"\n")
	tp := topic("acl")

	r := cli(t, "", "serve", tp, "--echo", "-s", url)
	assert.Equal(t, exitConnection, r.code, r.stderr)
	assert.Contains(t, r.stderr, "refused by the MQTT broker")
	assert.Contains(t, r.stderr, "(--no-discovery serves PATTERN without discovery)\n")

	serve(t, tp, "--echo", "--no-discovery", "-s", url)
	assert.Equal(t, result{exitOK, "here\n", ""}, cli(t, "", "call", tp, "here", "-s", url))
}

// dynsecPlugin returns the path of mosquitto's dynamic security plugin.
func dynsecPlugin() (string, bool) {
	for _, pattern := range []string{
		"/usr/lib/*/mosquitto_dynamic_security.so",
		"/usr/lib/mosquitto_dynamic_security.so",
		"/usr/local/lib/mosquitto_dynamic_security.so",
	} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0], true
		}
	}
	return "", false
}
