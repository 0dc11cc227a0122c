// Package ids makes the random identifiers of requests, from crypto/rand:
// tokens for reply topics, unguessable so that no other client can predict
// one, and version 4 UUIDs for Correlation Data. Each has a Write form that
// fills a caller's buffer, so a request can keep its topic and its ID in
// one allocation.
package ids

import (
	"crypto/rand"
	"encoding/hex"
)

// UUIDLen is the length of a UUID as text: 8-4-4-4-12 hex digits.
const UUIDLen = 36

// TokenLen is the length of a token: 64 random bits as hex digits.
const TokenLen = 16

// UUID returns a random (version 4) UUID as text.
func UUID() string {
	var id [UUIDLen]byte
	WriteUUID(id[:])
	return string(id[:])
}

// WriteUUID writes a random (version 4) UUID as text into id, which is
// UUIDLen bytes long.
func WriteUUID(id []byte) {
	var u [16]byte
	rand.Read(u[:])         // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	hex.Encode(id[0:8], u[0:4])
	id[8] = '-'
	hex.Encode(id[9:13], u[4:6])
	id[13] = '-'
	hex.Encode(id[14:18], u[6:8])
	id[18] = '-'
	hex.Encode(id[19:23], u[8:10])
	id[23] = '-'
	hex.Encode(id[24:36], u[10:16])
}

// Token returns a fresh token.
func Token() string {
	var t [TokenLen]byte
	WriteToken(t[:])
	return string(t[:])
}

// WriteToken writes a fresh token into dst, which is TokenLen bytes long.
func WriteToken(dst []byte) {
	var token [TokenLen / 2]byte
	rand.Read(token[:]) // crypto/rand.Read never fails (Go 1.24+)
	hex.Encode(dst, token[:])
}
