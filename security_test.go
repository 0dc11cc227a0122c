package mqttrpc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// These tests run mosquitto with TLS, passwords and ACLs. Its files are
// written to t.TempDir(), which only the test's user can enter. Mosquitto
// started as root drops to the "mosquitto" user before it reads its password,
// ACL and plugin files, and could not open them there; "user root" keeps it
// as it was started. Mosquitto ignores the option when not started as root.
const mosquittoKeepUser = "user root\n"

var secVersions = []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311}

// connectURL connects to url on version v and closes the Broker when the test ends.
func connectURL(t *testing.T, url string, v mqttrpc.Version, opts ...mqttrpc.Option) *mqttrpc.Broker {
	t.Helper()
	return connect(t, target{broker: &brokertest.Broker{Name: "mosquitto", URL: url}, version: v}, opts...)
}

// connectFails is Connect that is expected to fail: it closes the Broker if
// Connect succeeds after all.
func connectFails(t *testing.T, url string, v mqttrpc.Version, opts ...mqttrpc.Option) (time.Duration, error) {
	t.Helper()
	opts = append([]mqttrpc.Option{mqttrpc.WithVersion(v), mqttrpc.WithConnectTimeout(2 * time.Second)}, opts...)
	start := time.Now()
	b, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), url, opts...)
	if err == nil {
		require.NoError(t, b.Close(ctxTimeout(t, 5*time.Second)))
	}
	return time.Since(start), err
}

// echoRoundTrips sends n requests from client to an echo handler on topic
// and checks the answers; on MQTT 3.1.1 they wait for replies on reply311.
func echoRoundTrips(t *testing.T, v mqttrpc.Version, client *mqttrpc.Broker, topic, reply311 string, n int) {
	t.Helper()
	var opts []mqttrpc.RequestOption
	if v == mqttrpc.V311 {
		opts = append(opts, mqttrpc.ReplyTo(reply311))
	}
	for i := range n {
		body := "ping " + strconv.Itoa(i)
		reply, err := client.Request(ctxTimeout(t, 5*time.Second), topic, body, opts...)
		require.NoError(t, err)
		require.Equal(t, body, string(reply.Body))
	}
}

// serveEchoAt registers echo on topic; on MQTT 3.1.1 replies go to reply311.
func serveEchoAt(t *testing.T, v mqttrpc.Version, server *mqttrpc.Broker, topic, reply311 string) {
	t.Helper()
	var opts []mqttrpc.SubscribeOption
	if v == mqttrpc.V311 {
		opts = append(opts, mqttrpc.ReplyTopic(reply311))
	}
	subscribe(t, server, topic, mqttrpc.Typed(echo), opts...)
}

// writeTestFile writes content to name in dir and returns its path.
func writeTestFile(t *testing.T, dir, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, content, 0o600))
	return p
}

// --- TLS ---------------------------------------------------------------

// testPKI is a throwaway CA and a server certificate for 127.0.0.1.
type testPKI struct {
	pool                      *x509.CertPool // holds the CA
	caFile, certFile, keyFile string
}

// newTestPKI makes an ECDSA P-256 CA and a server certificate for the IP
// 127.0.0.1, valid for an hour, and writes them as PEM files to dir.
func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mqttrpc test CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{
		pool:     pool,
		caFile:   writeTestFile(t, dir, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		certFile: writeTestFile(t, dir, "server.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		keyFile:  writeTestFile(t, dir, "server-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
	}
}

func TestTLS(t *testing.T) {
	pki := newTestPKI(t, t.TempDir())
	port, mutualPort := brokertest.FreePort(t), brokertest.FreePort(t)
	listener := func(port int, requireCert bool) string {
		return "listener " + strconv.Itoa(port) + " 127.0.0.1\n" +
			"cafile " + pki.caFile + "\n" +
			"certfile " + pki.certFile + "\n" +
			"keyfile " + pki.keyFile + "\n" +
			"require_certificate " + strconv.FormatBool(requireCert) + "\n"
	}
	brokertest.MosquittoWith(t, mosquittoKeepUser+listener(port, false)+listener(mutualPort, true))
	url := "mqtts://127.0.0.1:" + strconv.Itoa(port)
	mutualURL := "mqtts://127.0.0.1:" + strconv.Itoa(mutualPort)

	for _, v := range secVersions {
		t.Run("v"+v.String(), func(t *testing.T) {
			t.Run("round trip", func(t *testing.T) {
				tlsOpt := mqttrpc.WithTLSConfig(&tls.Config{RootCAs: pki.pool})
				server := connectURL(t, url, v, tlsOpt)
				client := connectURL(t, url, v, tlsOpt)
				topic := uniqueTopic(t, "tls")
				serveEchoAt(t, v, server, topic, topic+"/reply")
				echoRoundTrips(t, v, client, topic, topic+"/reply", 3)
			})

			t.Run("unknown CA", func(t *testing.T) {
				// The system roots do not hold the test CA.
				elapsed, err := connectFails(t, url, v, mqttrpc.WithTLSConfig(&tls.Config{}))
				require.Error(t, err)
				t.Logf("Connect: %v", err)
				require.ErrorIs(t, err, mqttrpc.ErrRefused, "a certificate that does not verify is final")
				var unknownCA x509.UnknownAuthorityError
				require.ErrorAs(t, err, &unknownCA, "Connect's error should wrap the certificate error")
				require.Less(t, elapsed, time.Second, "a certificate error is final: Connect does not wait for its timeout")
			})

			t.Run("client certificate required", func(t *testing.T) {
				elapsed, err := connectFails(t, mutualURL, v, mqttrpc.WithTLSConfig(&tls.Config{RootCAs: pki.pool}))
				require.Error(t, err)
				t.Logf("Connect: %v", err)
				var alert *net.OpError
				require.ErrorAs(t, err, &alert, "Connect's error should wrap the server's TLS alert")
				require.Equal(t, "remote error", alert.Op)
				require.ErrorIs(t, err, mqttrpc.ErrRefused)
				require.Less(t, elapsed, time.Second, "a refused certificate is final: Connect does not wait for its timeout")
			})
		})
	}
}

// --- Passwords -------------------------------------------------------------

// passwordFile writes a mosquitto password file for users (name, password
// pairs) to dir with mosquitto_passwd.
func passwordFile(t *testing.T, dir string, users ...string) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("mosquitto_passwd required in CI")
		}
		t.Skip("mosquitto_passwd not installed")
	}
	p := filepath.Join(dir, "passwd")
	for i := 0; i < len(users); i += 2 {
		args := []string{"-b", p, users[i], users[i+1]}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		require.NoError(t, err, "mosquitto_passwd: %s", out)
	}
	return p
}

// mosquittoWithUsers starts mosquitto that lets in only the users in the
// password file, with extra config such as an ACL.
func mosquittoWithUsers(t *testing.T, pwfile, extra string) *brokertest.Broker {
	t.Helper()
	return brokertest.MosquittoWith(t, mosquittoKeepUser+
		"allow_anonymous false\n"+
		"password_file "+pwfile+"\n"+extra)
}

func TestCredentials(t *testing.T) {
	b := mosquittoWithUsers(t, passwordFile(t, t.TempDir(), "alice", "secret"), "")

	for _, v := range secVersions {
		t.Run("v"+v.String(), func(t *testing.T) {
			t.Run("right password", func(t *testing.T) {
				creds := mqttrpc.WithCredentials("alice", "secret")
				server := connectURL(t, b.URL, v, creds)
				client := connectURL(t, b.URL, v, creds)
				topic := uniqueTopic(t, "creds")
				serveEchoAt(t, v, server, topic, topic+"/reply")
				echoRoundTrips(t, v, client, topic, topic+"/reply", 3)
			})

			// Mosquitto answers a wrong password, an unknown user and no
			// credentials alike: CONNACK reason code 0x87 (not authorized)
			// on MQTT 5, return code 5 (not authorized) on MQTT 3.1.1.
			// Retrying cannot mend that, so Connect fails at once with
			// ErrRefused wrapping paho's error.
			for name, opts := range map[string][]mqttrpc.Option{
				"wrong password": {mqttrpc.WithCredentials("alice", "wrong")},
				"anonymous":      nil,
			} {
				t.Run(name, func(t *testing.T) {
					elapsed, err := connectFails(t, b.URL, v, opts...)
					require.Error(t, err)
					t.Logf("Connect: %v", err)
					require.ErrorIs(t, err, mqttrpc.ErrRefused)
					if v == mqttrpc.V5 {
						var connack *autopaho.ConnackError
						require.ErrorAs(t, err, &connack)
						require.EqualValues(t, 0x87, connack.ReasonCode)
					} else {
						require.ErrorIs(t, err, packets.ErrorRefusedNotAuthorised)
					}
					require.Less(t, elapsed, time.Second, "a refusal is final: Connect does not wait for its timeout")
				})
			}
		})
	}
}

// --- ACLs: acl_file ----------------------------------------------------------

// aclFile confines every user to reading its own inbox, mqttrpc/inbox/<user>.
// Users send requests on rpc/#; only the service account bob reads them, and
// only bob may write replies into other users' inboxes. Mosquitto warns that
// the first pattern has no %u or %c; it still applies to every user.
const aclFile = `# Every user: send requests, and read only its own reply inbox.
pattern write rpc/#
pattern read mqttrpc/inbox/%u/#

# The service account: read requests, write replies into any inbox.
user bob
topic read rpc/#
topic write mqttrpc/inbox/#
`

// users of the ACL tests, and the Connect options that give each its own inbox.
var aclUsers = []string{"alice", "alice-pw", "bob", "bob-pw", "eve", "eve-pw"}

func aclUser(name string) []mqttrpc.Option {
	return []mqttrpc.Option{
		mqttrpc.WithCredentials(name, name+"-pw"),
		mqttrpc.WithInboxPrefix("mqttrpc/inbox/" + name),
	}
}

// topicRecorder is a handler that records the topics it is sent.
type topicRecorder struct {
	mu     sync.Mutex
	topics []string
	seen   chan string // every topic, if there is room
}

func newTopicRecorder() *topicRecorder { return &topicRecorder{seen: make(chan string, 100)} }

func (r *topicRecorder) ServeRPC(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
	r.mu.Lock()
	r.topics = append(r.topics, m.Topic)
	r.mu.Unlock()
	select {
	case r.seen <- m.Topic:
	default:
	}
	return nil, nil
}

func (r *topicRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.topics)
}

// TestACLFile runs the acl_file recipe. Mosquitto 2.0's acl_file does not
// check subscriptions at all: every SUBSCRIBE is granted (SUBACK 0x00 on both
// versions), and the read rules are applied to each message on delivery.
// So a client that subscribes to another's inbox is not refused; it is sent
// nothing.
func TestACLFile(t *testing.T) {
	dir := t.TempDir()
	b := mosquittoWithUsers(t, passwordFile(t, dir, aclUsers...),
		"acl_file "+writeTestFile(t, dir, "acl", []byte(aclFile))+"\n")

	for _, v := range secVersions {
		t.Run("v"+v.String(), func(t *testing.T) {
			const topic = "rpc/echo"
			reply := "mqttrpc/inbox/alice/echo" // MQTT 3.1.1 only
			bob := connectURL(t, b.URL, v, aclUser("bob")...)
			alice := connectURL(t, b.URL, v, aclUser("alice")...)
			eve := connectURL(t, b.URL, v, aclUser("eve")...)
			eve2 := connectURL(t, b.URL, v, aclUser("eve")...) // MQTT 3.1.1 refuses overlapping filters on one Broker
			serveEchoAt(t, v, bob, topic, reply)

			// Eve asks for alice's inbox and for everything: mosquitto grants
			// both subscriptions.
			spy := newTopicRecorder()
			subscribe(t, eve, "mqttrpc/inbox/alice/#", spy, mqttrpc.NoReply())
			subscribe(t, eve2, "#", spy, mqttrpc.NoReply())

			echoRoundTrips(t, v, alice, topic, reply, 5)

			// Eve cannot forge a reply into alice's inbox: on MQTT 5 the
			// broker refuses the QoS 1 publish (PUBACK 0x87); on MQTT 3.1.1
			// it acknowledges it and drops it.
			forged := "mqttrpc/inbox/alice/forged"
			if v == mqttrpc.V311 {
				forged = reply // alice is subscribed to it
			}
			err := eve.Publish(ctxTimeout(t, 5*time.Second), forged, "forged", mqttrpc.QoS(1))
			if v == mqttrpc.V5 {
				require.ErrorIs(t, err, mqttrpc.ErrRefused)
			} else {
				require.NoError(t, err)
			}
			// Mosquitto queued the forgery, if at all, before it acknowledged
			// it, so alice would have it before her next reply.
			echoRoundTrips(t, v, alice, topic, reply, 1)
			require.Zero(t, alice.Stats().DroppedReplies, "alice got a message no request waited for")

			// A canary eve may read, sent by bob after all of alice's replies:
			// once eve has it, she has every earlier message bob sent her.
			require.NoError(t, bob.Publish(ctxTimeout(t, 5*time.Second), "mqttrpc/inbox/eve/canary", "tweet"))
			select {
			case <-spy.seen:
			case <-time.After(5 * time.Second):
				t.Fatal("eve did not get the canary: her # subscription is broken, so the test proves nothing")
			}
			require.NoError(t, eve.Close(ctxTimeout(t, 5*time.Second))) // waits for eve's handlers
			require.Equal(t, []string{"mqttrpc/inbox/eve/canary"}, spy.all(), "eve read messages outside her inbox")
		})
	}

	// On MQTT 5 a Broker's inbox is <prefix>/<token>/+. Without the prefix
	// the ACL expects, Connect succeeds (the subscription is granted) but
	// no reply ever reaches the inbox: requests time out.
	t.Run("v5.0 default inbox prefix", func(t *testing.T) {
		bob := connectURL(t, b.URL, mqttrpc.V5, aclUser("bob")...)
		serveEchoAt(t, mqttrpc.V5, bob, "rpc/echo", "")
		alice := connectURL(t, b.URL, mqttrpc.V5, mqttrpc.WithCredentials("alice", "alice-pw"))
		_, err := alice.Request(ctxTimeout(t, 5*time.Second), "rpc/echo", "ping", mqttrpc.Timeout(time.Second))
		require.ErrorIs(t, err, mqttrpc.ErrTimeout)
	})
}

// --- ACLs: dynamic security plugin ------------------------------------------

// dynsecPlugin finds mosquitto's dynamic security plugin: Debian and Ubuntu
// install it in /usr/lib/<triplet>, source builds in /usr/local/lib.
func dynsecPlugin(t *testing.T) string {
	t.Helper()
	for _, pattern := range []string{
		"/usr/lib/*/mosquitto_dynamic_security.so",
		"/usr/lib/mosquitto_dynamic_security.so",
		"/usr/local/lib/mosquitto_dynamic_security.so",
	} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
	}
	t.Skip("mosquitto dynamic security plugin not installed")
	return ""
}

// dynsecConfig is a dynamic security plugin configuration with the same
// rules as aclFile. Unlike acl_file, the plugin checks subscriptions and
// refuses a forbidden one in its SUBACK. Mosquitto 2.0.11's plugin does not
// substitute %u or %c in any rule, so each user needs a role of its own that
// names its inbox.
func dynsecConfig(t *testing.T) []byte {
	t.Helper()
	type acl struct {
		Type  string `json:"acltype"`
		Topic string `json:"topic"`
		Allow bool   `json:"allow"`
	}
	type role struct {
		Name string `json:"rolename"`
		ACLs []acl  `json:"acls"`
	}
	type roleRef struct {
		Name string `json:"rolename"`
	}
	type client struct {
		Username   string    `json:"username"`
		Password   string    `json:"password"`
		Salt       string    `json:"salt"`
		Iterations int       `json:"iterations"`
		Roles      []roleRef `json:"roles"`
	}
	roles := []role{
		{"requester", []acl{{"publishClientSend", "rpc/#", true}}},
		{"responder", []acl{
			{"subscribePattern", "rpc/#", true},
			{"publishClientReceive", "rpc/#", true},
			{"publishClientSend", "mqttrpc/inbox/#", true},
		}},
	}
	var clients []client
	for _, name := range []string{"alice", "bob", "eve"} {
		// The password hash is PBKDF2-SHA512 as mosquitto_ctrl writes it.
		salt := make([]byte, 12)
		_, _ = rand.Read(salt)
		const iterations = 101
		hash, err := pbkdf2.Key(sha512.New, name+"-pw", salt, iterations, sha512.Size)
		require.NoError(t, err)
		refs := []roleRef{{"requester"}, {"inbox-" + name}}
		if name == "bob" {
			refs = append(refs, roleRef{"responder"})
		}
		clients = append(clients, client{
			Username:   name,
			Password:   base64.StdEncoding.EncodeToString(hash),
			Salt:       base64.StdEncoding.EncodeToString(salt),
			Iterations: iterations,
			Roles:      refs,
		})
		inbox := "mqttrpc/inbox/" + name + "/#"
		roles = append(roles, role{"inbox-" + name, []acl{
			{"subscribePattern", inbox, true},
			{"publishClientReceive", inbox, true},
		}})
	}
	conf, err := json.MarshalIndent(map[string]any{
		"clients": clients,
		"roles":   roles,
		"defaultACLAccess": map[string]bool{
			"publishClientSend":    false,
			"publishClientReceive": false,
			"subscribe":            false,
			"unsubscribe":          true,
		},
	}, "", "  ")
	require.NoError(t, err)
	return conf
}

// TestACLDynamicSecurity runs the same rules as TestACLFile with the dynamic
// security plugin, which refuses forbidden subscriptions: SUBACK 0x87 (not
// authorized) on MQTT 5, 0x80 (failure) on MQTT 3.1.1. The Broker reports
// both as ErrRefused.
func TestACLDynamicSecurity(t *testing.T) {
	plugin := dynsecPlugin(t)
	dir := t.TempDir()
	b := brokertest.MosquittoWith(t, mosquittoKeepUser+
		"allow_anonymous false\n"+
		"plugin "+plugin+"\n"+
		"plugin_opt_config_file "+writeTestFile(t, dir, "dynamic-security.json", dynsecConfig(t))+"\n")

	for _, v := range secVersions {
		t.Run("v"+v.String(), func(t *testing.T) {
			const topic = "rpc/echo"
			reply := "mqttrpc/inbox/alice/echo" // MQTT 3.1.1 only
			bob := connectURL(t, b.URL, v, aclUser("bob")...)
			alice := connectURL(t, b.URL, v, aclUser("alice")...)
			eve := connectURL(t, b.URL, v, aclUser("eve")...)
			serveEchoAt(t, v, bob, topic, reply)
			echoRoundTrips(t, v, alice, topic, reply, 3)

			for _, filter := range []string{"mqttrpc/inbox/alice/#", "mqttrpc/inbox/+/#", "#"} {
				_, err := eve.Subscriber(ctxTimeout(t, 10*time.Second), filter, newTopicRecorder(), mqttrpc.NoReply())
				require.ErrorIs(t, err, mqttrpc.ErrRefused, "eve subscribing to %q", filter)
				t.Logf("Subscriber(%q): %v", filter, err)
			}
			// Eve's own inbox is hers to read.
			subscribe(t, eve, "mqttrpc/inbox/eve/#", newTopicRecorder(), mqttrpc.NoReply())
			echoRoundTrips(t, v, alice, topic, reply, 1) // the refusals broke nothing
		})
	}

	// Here the refused inbox subscription fails Connect on MQTT 5, at once:
	// without its inbox the Broker could never receive a reply.
	t.Run("v5.0 default inbox prefix", func(t *testing.T) {
		elapsed, err := connectFails(t, b.URL, mqttrpc.V5, mqttrpc.WithCredentials("alice", "alice-pw"))
		require.Error(t, err)
		t.Logf("Connect: %v", err)
		require.ErrorIs(t, err, mqttrpc.ErrRefused)
		var oe *mqttrpc.OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "connect", oe.Op)
		require.Less(t, elapsed, time.Second)
	})
}

// --- Reply topic tokens -----------------------------------------------------

// TestReplyTopicToken checks the form of MQTT 5 reply topics:
// mqttrpc/inbox/<inbox token>/<request token>, each token 64 random bits in
// hex. A Broker keeps one inbox token; every request gets a new one.
func TestReplyTopicToken(t *testing.T) {
	tg := target{broker: brokertest.Mochi(t), version: mqttrpc.V5}
	server := connect(t, tg)
	topic := uniqueTopic(t, "token")
	replyTo := make(chan string, 1)
	subscribe(t, server, topic, mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		replyTo <- m.ReplyTo
		return nil, nil
	}))

	form := regexp.MustCompile(`^mqttrpc/inbox/([0-9a-f]{16})/([0-9a-f]{16})$`)
	// tokens sends a request from b and returns its reply topic's tokens.
	tokens := func(b *mqttrpc.Broker) (inbox, request string) {
		t.Helper()
		_, err := b.Request(ctxTimeout(t, 5*time.Second), topic, nil)
		require.NoError(t, err)
		rt := <-replyTo
		m := form.FindStringSubmatch(rt)
		require.NotNil(t, m, "reply topic %q", rt)
		return m[1], m[2]
	}

	a, b := connect(t, tg), connect(t, tg)
	inboxA1, reqA1 := tokens(a)
	inboxA2, reqA2 := tokens(a)
	inboxB, reqB := tokens(b)
	require.Equal(t, inboxA1, inboxA2, "a Broker keeps its inbox")
	require.NotEqual(t, inboxA1, inboxB, "two Brokers share an inbox token")
	require.NotEqual(t, reqA1, reqA2, "two requests share a request token")
	require.NotEqual(t, reqA1, reqB)
}
