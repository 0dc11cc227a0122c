package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

// defaultServer is the broker URL when neither --server nor MQTTRPC_SERVER
// gives one.
const defaultServer = "mqtt://localhost:1883"

// The environment variables that stand in for connection flags not given.
const (
	envServer   = "MQTTRPC_SERVER"   // --server; several separated by spaces
	envUser     = "MQTTRPC_USER"     // --username
	envPassword = "MQTTRPC_PASSWORD" // --password
)

// schemes are the URL schemes --server takes, each with its default port.
// connHelp and the error for any other scheme list these.
var schemes = []struct{ name, port string }{
	{"mqtt", "1883"}, {"tcp", "1883"}, {"mqtts", "8883"}, {"ssl", "8883"}, {"ws", "80"}, {"wss", "443"},
}

// connHelp describes the flags of connFlags, for every command's help.
const connHelp = `
Connection flags:
  -s, --server ADDR         MQTT broker: HOST or HOST:PORT (mqtt://), or a URL with one of
                            mqtt://, tcp://, mqtts://, ssl://, ws://, wss:// (default
                            $MQTTRPC_SERVER, else mqtt://localhost:1883); repeat it for the
                            nodes of a cluster, tried in order, each time the connection is
                            lost too
  -V, --protocol-version V  MQTT version: 5 or 3.1.1 (default 5)
  -i, --client-id ID        MQTT client identifier (default: mqttrpc- and random characters)
  -u, --username NAME       username sent in CONNECT (default $MQTTRPC_USER)
  -P, --password SECRET     password sent in CONNECT (default $MQTTRPC_PASSWORD); visible
                            to other users in the process list: prefer the two below
      --password-file FILE  read the password from FILE's first line
      --cafile FILE         PEM certificates to trust instead of the system's (mqtts://, wss://)
      --cert FILE           PEM client certificate, with --key
      --key FILE            PEM private key of --cert
      --connect-timeout D   how long to wait for the broker (default 10s)
`

// connFlags are the flags that say how to reach the MQTT broker, shared by
// call, serve and bench.
type connFlags struct {
	servers        stringList
	version        string
	clientID       string
	username       string
	password       string
	passwordFile   string
	caFile         string
	certFile       string
	keyFile        string
	connectTimeout time.Duration
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.Var(&c.servers, "s", "")
	fs.Var(&c.servers, "server", "")
	stringFlags(fs, &c.version, "5", "V", "protocol-version")
	stringFlags(fs, &c.clientID, "", "i", "client-id")
	stringFlags(fs, &c.username, "", "u", "username")
	stringFlags(fs, &c.password, "", "P", "password")
	stringFlags(fs, &c.passwordFile, "", "password-file")
	stringFlags(fs, &c.caFile, "", "cafile")
	stringFlags(fs, &c.certFile, "", "cert")
	stringFlags(fs, &c.keyFile, "", "key")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", 10*time.Second, "")
}

// protocol returns the MQTT version --protocol-version names.
func (c *connFlags) protocol() (mqttrpc.Version, error) {
	switch c.version {
	case "5", "5.0":
		return mqttrpc.V5, nil
	case "3.1.1", "311", "4":
		return mqttrpc.V311, nil
	}
	return 0, usagef("unknown MQTT version %q: want 5 or 3.1.1", c.version)
}

// urls returns the broker URLs: every --server, else those of
// MQTTRPC_SERVER, else the default; each as a URL, HOST and HOST:PORT
// made mqtt:// ones. It returns a usageError for an address that is
// neither.
func (c *connFlags) urls() ([]string, error) {
	raw := []string(c.servers)
	if len(raw) == 0 {
		raw = strings.Fields(os.Getenv(envServer))
	}
	if len(raw) == 0 {
		return []string{defaultServer}, nil
	}
	urls := make([]string, len(raw))
	for i, s := range raw {
		u, err := serverURL(s)
		if err != nil {
			return nil, err
		}
		urls[i] = u.String()
	}
	return urls, nil
}

// serverURL parses a --server: a URL with a scheme of schemes, or HOST or
// HOST:PORT, which mean mqtt://.
func serverURL(s string) (*url.URL, error) {
	raw := s
	if !strings.Contains(s, "://") {
		raw = "mqtt://" + s
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return nil, usagef("--server %q is not a broker address: want HOST, HOST:PORT or a URL such as mqtt://host:1883", s)
	}
	if !slices.ContainsFunc(schemes, func(sc struct{ name, port string }) bool { return sc.name == u.Scheme }) {
		return nil, usagef("--server %q: unknown scheme %q: want HOST[:PORT] or one of %s", s, u.Scheme, schemeList())
	}
	return u, nil
}

// schemeList lists the schemes --server takes, as connHelp does.
func schemeList() string {
	names := make([]string, len(schemes))
	for i, sc := range schemes {
		names[i] = sc.name + "://"
	}
	return strings.Join(names, ", ")
}

// hostPort returns the address a TCP connection to u dials, with the
// scheme's default port if u gives none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	for _, sc := range schemes {
		if sc.name == u.Scheme {
			return net.JoinHostPort(u.Hostname(), sc.port)
		}
	}
	return u.Host
}

// credentials returns the username and password: those of the flags, else
// of the environment.
func (c *connFlags) credentials() (user, password string, err error) {
	user, password = c.username, c.password
	if user == "" {
		user = os.Getenv(envUser)
	}
	switch {
	case c.password != "" && c.passwordFile != "":
		return "", "", usagef("--password and --password-file both give the password: give one")
	case c.passwordFile != "":
		data, err := os.ReadFile(c.passwordFile)
		if err != nil {
			return "", "", fmt.Errorf("--password-file: %w", err)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		password = strings.TrimSuffix(first, "\r")
	case password == "":
		password = os.Getenv(envPassword)
	}
	return user, password, nil
}

// options checks the flags and returns them as options for mqttrpc.Connect.
func (c *connFlags) options() ([]mqttrpc.Option, error) {
	v, err := c.protocol()
	if err != nil {
		return nil, err
	}
	urls, err := c.urls()
	if err != nil {
		return nil, err
	}
	if c.connectTimeout <= 0 {
		return nil, usagef("--connect-timeout %v: want a positive duration", c.connectTimeout)
	}
	opts := []mqttrpc.Option{mqttrpc.WithVersion(v), mqttrpc.WithConnectTimeout(c.connectTimeout)}
	if len(urls) > 1 {
		opts = append(opts, mqttrpc.WithServers(urls[1:]...))
	}
	if c.clientID != "" {
		opts = append(opts, mqttrpc.WithClientID(c.clientID))
	}
	user, password, err := c.credentials()
	if err != nil {
		return nil, err
	}
	if user != "" || password != "" {
		opts = append(opts, mqttrpc.WithCredentials(user, password))
	}
	cfg, err := c.tlsConfig(urls)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		opts = append(opts, mqttrpc.WithTLSConfig(cfg))
	}
	return opts, nil
}

// tlsConfig returns the TLS configuration the TLS flags ask for, or nil if
// none is given, leaving the library's default (the system's roots).
func (c *connFlags) tlsConfig(urls []string) (*tls.Config, error) {
	if c.caFile == "" && c.certFile == "" && c.keyFile == "" {
		return nil, nil
	}
	for _, s := range urls {
		u, _ := url.Parse(s) // checked by urls
		if s := u.Scheme; s != "mqtts" && s != "ssl" && s != "wss" {
			return nil, usagef("--cafile, --cert and --key need mqtts://, ssl:// or wss:// servers, not %s://", s)
		}
	}
	if (c.certFile == "") != (c.keyFile == "") {
		return nil, usagef("--cert and --key go together")
	}
	// No ServerName: each connection takes it from the host of its server.
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("--cafile: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cafile %s: no PEM certificates", c.caFile)
		}
	}
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert, --key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// probeAfter is how long connect lets mqttrpc.Connect try before it checks
// whether any server can be reached at all. Connect keeps retrying a
// refused or unresolvable server until --connect-timeout, since a broker
// may be starting; a one-shot command has nobody to wait for. Against a
// broker that answers, Connect is done well within it, and the broker sees
// no connection but the command's own.
const probeAfter = 200 * time.Millisecond

// connect connects to the broker the flags name, with extra options after
// theirs, for a command that does one thing and exits: if no server takes
// a TCP connection (refused, or a host that does not resolve), it fails at
// once rather than after --connect-timeout.
func (c *connFlags) connect(ctx context.Context, extra ...mqttrpc.Option) (*mqttrpc.Broker, error) {
	urls, opts, err := c.prepare(extra)
	if err != nil {
		return nil, err
	}
	connectCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		b   *mqttrpc.Broker
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := mqttrpc.Connect(connectCtx, urls[0], opts...)
		done <- result{b, err}
	}()
	wait := time.NewTimer(probeAfter)
	defer wait.Stop()
	var r result
	select {
	case r = <-done:
	case <-wait.C:
		unreachable := probe(connectCtx, urls, c.connectTimeout-probeAfter)
		if unreachable != nil && ctx.Err() == nil {
			cancel()
		}
		if r = <-done; r.err != nil && unreachable != nil && ctx.Err() == nil {
			return nil, connectError{unreachable}
		}
	}
	if r.err != nil {
		return nil, connectError{r.err}
	}
	return r.b, nil
}

// connectWaiting connects as connect does, but waits for a server to take
// connections for as long as --connect-timeout allows: for serve, which may
// start before its broker.
func (c *connFlags) connectWaiting(ctx context.Context, extra ...mqttrpc.Option) (*mqttrpc.Broker, error) {
	urls, opts, err := c.prepare(extra)
	if err != nil {
		return nil, err
	}
	b, err := mqttrpc.Connect(ctx, urls[0], opts...)
	if err != nil {
		return nil, connectError{err}
	}
	return b, nil
}

// prepare returns the broker URLs and the options for mqttrpc.Connect, with
// extra after those of the flags.
func (c *connFlags) prepare(extra []mqttrpc.Option) ([]string, []mqttrpc.Option, error) {
	opts, err := c.options()
	if err != nil {
		return nil, nil, err
	}
	urls, _ := c.urls() // checked by options
	return urls, append(opts, extra...), nil
}

// probe dials each server over TCP, all at once, for at most timeout. It
// returns nil as soon as one takes the connection, which it closes, and
// else an error that says why each failed. It only tells whether a broker
// can be reached; mqttrpc.Connect does the connecting.
func probe(ctx context.Context, urls []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, max(timeout, time.Millisecond))
	defer cancel()
	errs := make(chan error, len(urls))
	for _, s := range urls {
		u, _ := url.Parse(s) // checked by urls
		go func() {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", hostPort(u))
			if err != nil {
				errs <- fmt.Errorf("connect %q: %w", u.Redacted(), err)
				return
			}
			conn.Close()
			errs <- nil
		}()
	}
	var all []error
	for range urls {
		err := <-errs
		if err == nil {
			return nil // the other dials end with ctx
		}
		all = append(all, err)
	}
	return errors.Join(all...)
}

// closeTimeout bounds how long a command waits for its Broker to close.
const closeTimeout = 5 * time.Second

// closeBroker closes b, giving it closeTimeout even when the command's own
// context has ended.
func closeBroker(b *mqttrpc.Broker) error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	return b.Close(ctx)
}
