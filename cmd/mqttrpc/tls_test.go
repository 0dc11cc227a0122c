package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTLS serves and calls through mosquitto with mutual TLS, from PEM
// files given as --cafile, --cert and --key; without a client
// certificate, the broker refuses the connection.
func TestTLS(t *testing.T) {
	pki := newPKI(t)
	addr := mosquittoWith(t, "user root\n"+ // read the test's files as the test does
		"cafile "+pki.ca+"\ncertfile "+pki.serverCert+"\nkeyfile "+pki.serverKey+"\n"+
		"require_certificate true\n")
	tlsArgs := []string{"-s", "mqtts://" + addr, "--cafile", pki.ca, "--cert", pki.clientCert, "--key", pki.clientKey}
	tp := topic("tls")
	serve(t, append([]string{tp, "--echo"}, tlsArgs...)...)

	r := cli(t, "", append([]string{"call", tp, "secret"}, tlsArgs...)...)
	assert.Equal(t, result{exitOK, "secret\n", ""}, r)

	r = cli(t, "", "call", tp, "-s", "mqtts://"+addr, "--cafile", pki.ca, "--connect-timeout", "1s")
	assert.Equal(t, exitConnection, r.code, r.stderr)
	// The library retries until the connect timeout, since a TLS alert from
	// the server is not among the failures it treats as final; which attempt
	// the timeout cuts short, and so the message, varies.
	assert.Contains(t, r.stderr, `mqttrpc call: connect "mqtts://`)
}

// pki are the PEM files of a throwaway CA, a server certificate for
// 127.0.0.1 and a client certificate.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

// newPKI makes an ECDSA P-256 CA and the certificates it signs, valid for
// an hour, in the test's temporary directory.
func newPKI(t *testing.T) pki {
	t.Helper()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mqttrpc command test CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	var p pki
	p.ca = writeFile(t, "ca.pem", pemBlock("CERTIFICATE", caDER))
	p.serverCert, p.serverKey = issue(t, ca, caKey, "server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue(t, ca, caKey, "client", x509.ExtKeyUsageClientAuth)
	return p
}

// issue makes a certificate for 127.0.0.1 signed by ca, for usage, and
// returns the paths of its PEM certificate and key.
func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, usage x509.ExtKeyUsage) (cert, key string) {
	t.Helper()
	k := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return writeFile(t, name+".pem", pemBlock("CERTIFICATE", der)),
		writeFile(t, name+"-key.pem", pemBlock("PRIVATE KEY", keyDER))
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func pemBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}
