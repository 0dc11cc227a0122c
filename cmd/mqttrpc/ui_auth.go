package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
)

// uiRealm is the realm of the page's HTTP Basic authentication.
const uiRealm = "mqttrpc ui"

// password returns the page's password: --ui-password-file's first line,
// else $MQTTRPC_UI_PASSWORD, else "" for none.
func (f *uiFlags) password() (string, error) {
	if f.passwordFile == "" {
		return os.Getenv(envUIPassword), nil
	}
	data, err := os.ReadFile(f.passwordFile)
	if err != nil {
		return "", fmt.Errorf("--ui-password-file: %w", err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	password := strings.TrimSuffix(first, "\r")
	if password == "" {
		return "", usagef("--ui-password-file %s: its first line is empty", f.passwordFile)
	}
	return password, nil
}

// offLoopback reports whether the listen address addr takes connections
// from other machines: any host but a loopback address or "localhost"; an
// empty host means every interface.
func offLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, usagef("--listen %q: want HOST:PORT, such as 127.0.0.1:8080", addr)
	}
	return !isLoopbackHost(host), nil
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP
// (127.0.0.0/8, ::1). Other names are taken to be reachable from elsewhere.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// guard asks every request for password with HTTP Basic authentication,
// under any user name, before next sees it. Without a password it lets
// through only requests addressed to a loopback host, so that a site that
// points its own name at 127.0.0.1 (DNS rebinding) cannot read the broker
// credentials from config.json as a page of the same origin.
func guard(password string, next http.Handler) http.Handler {
	if password == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			if !isLoopbackHost(strings.Trim(host, "[]")) {
				http.Error(w, "without --ui-password-file the explorer answers on localhost and loopback addresses only", http.StatusMisdirectedRequest)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	want := sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, got, ok := r.BasicAuth()
		// Hashing first makes the comparison take as long whatever the
		// length of the password tried.
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+uiRealm+`"`)
			http.Error(w, "the explorer needs its password", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
