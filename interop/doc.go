// Package interop tests mqttrpc against MQTT clients written by others:
// the mosquitto command-line clients, MQTT.js and Python's paho-mqtt. Each
// client calls an mqttrpc handler and answers an mqttrpc request, on MQTT 5
// and 3.1.1, through the embedded broker and mosquitto, so that the wire
// conventions (Response Topic, Correlation Data, User Properties, Content
// Type, __stat/__stMsg error replies) are checked against implementations
// that share no code with the library. The tests are in _test.go files;
// README.md has the matrix and what each client needs installed.
package interop
