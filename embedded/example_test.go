package embedded_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/mqttrpc/mqttrpc/embedded"
)

func ExampleStart() {
	s, err := embedded.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// Clients connect to s.URL(), which names a free loopback port.
	fmt.Println(strings.HasPrefix(s.URL(), "mqtt://127.0.0.1:"))
	// Output: true
}
