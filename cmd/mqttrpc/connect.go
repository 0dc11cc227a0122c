package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

// defaultServer is the broker URL when no --server is given.
const defaultServer = "mqtt://localhost:1883"

// connHelp describes the flags of connFlags, for every command's help.
const connHelp = `
Connection flags:
  -s, --server URL          MQTT broker: mqtt://, tcp://, mqtts://, ssl://, ws://, wss://
                            (default mqtt://localhost:1883); repeat it for the nodes of a
                            cluster, tried in order, each time the connection is lost too
  -V, --protocol-version V  MQTT version: 5 or 3.1.1 (default 5)
  -i, --client-id ID        MQTT client identifier (default: mqttrpc- and random characters)
  -u, --username NAME       username sent in CONNECT
  -P, --password SECRET     password sent in CONNECT
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

// server returns the broker URL tried first: the first --server.
func (c *connFlags) server() string {
	if len(c.servers) == 0 {
		return defaultServer
	}
	return c.servers[0]
}

// urls returns every --server, or the default.
func (c *connFlags) urls() []string {
	if len(c.servers) == 0 {
		return []string{defaultServer}
	}
	return c.servers
}

// options checks the flags and returns them as options for mqttrpc.Connect.
func (c *connFlags) options() ([]mqttrpc.Option, error) {
	v, err := c.protocol()
	if err != nil {
		return nil, err
	}
	for _, s := range c.urls() {
		if u, err := url.Parse(s); err != nil || u.Host == "" {
			return nil, usagef("--server %q is not a URL such as mqtt://host:1883", s)
		}
	}
	opts := []mqttrpc.Option{mqttrpc.WithVersion(v), mqttrpc.WithConnectTimeout(c.connectTimeout)}
	if len(c.servers) > 1 {
		opts = append(opts, mqttrpc.WithServers(c.servers[1:]...))
	}
	if c.clientID != "" {
		opts = append(opts, mqttrpc.WithClientID(c.clientID))
	}
	if c.username != "" || c.password != "" {
		opts = append(opts, mqttrpc.WithCredentials(c.username, c.password))
	}
	cfg, err := c.tlsConfig()
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
func (c *connFlags) tlsConfig() (*tls.Config, error) {
	if c.caFile == "" && c.certFile == "" && c.keyFile == "" {
		return nil, nil
	}
	for _, s := range c.urls() {
		u, _ := url.Parse(s) // checked by options
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
			return nil, fmt.Errorf("mqttrpc: --cafile: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqttrpc: --cafile %s: no PEM certificates", c.caFile)
		}
	}
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("mqttrpc: --cert, --key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// connect connects to the broker the flags name, with extra options after
// theirs.
func (c *connFlags) connect(ctx context.Context, extra ...mqttrpc.Option) (*mqttrpc.Broker, error) {
	opts, err := c.options()
	if err != nil {
		return nil, err
	}
	b, err := mqttrpc.Connect(ctx, c.server(), append(opts, extra...)...)
	if err != nil {
		return nil, connectError{err}
	}
	return b, nil
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
