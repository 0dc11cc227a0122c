package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
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
                            (default mqtt://localhost:1883; may repeat, the first is used)
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

// server returns the broker URL to connect to: the first --server. The
// library connects to one URL, so further ones are not used yet.
func (c *connFlags) server() string {
	if len(c.servers) == 0 {
		return defaultServer
	}
	return c.servers[0]
}

// options checks the flags and returns them as options for mqttrpc.Connect.
func (c *connFlags) options() ([]mqttrpc.Option, error) {
	v, err := c.protocol()
	if err != nil {
		return nil, err
	}
	if u, err := url.Parse(c.server()); err != nil || u.Host == "" {
		return nil, usagef("--server %q is not a URL such as mqtt://host:1883", c.server())
	}
	opts := []mqttrpc.Option{mqttrpc.WithVersion(v), mqttrpc.WithConnectTimeout(c.connectTimeout)}
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
	u, _ := url.Parse(c.server()) // checked by options
	if s := u.Scheme; s != "mqtts" && s != "ssl" && s != "wss" {
		return nil, usagef("--cafile, --cert and --key need an mqtts://, ssl:// or wss:// server, not %s://", s)
	}
	if (c.certFile == "") != (c.keyFile == "") {
		return nil, usagef("--cert and --key go together")
	}
	cfg := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
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
// theirs. It says so on stderr when given several servers, of which only
// the first is used.
func (c *connFlags) connect(ctx context.Context, stderr io.Writer, extra ...mqttrpc.Option) (*mqttrpc.Broker, error) {
	opts, err := c.options()
	if err != nil {
		return nil, err
	}
	if len(c.servers) > 1 {
		fmt.Fprintf(stderr, "mqttrpc: connecting to the first of %d servers, %s; the others are not used\n", len(c.servers), c.server())
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
