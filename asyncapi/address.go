package asyncapi

import (
	"strconv"
	"strings"
)

// Parameter descriptions of the two kinds of named levels.
const (
	levelParam = "One topic level (MQTT '+')."
	restParam  = "The rest of the topic (MQTT '#'): any number of levels, '/' included, or none."
)

// address turns a topic pattern ("devices/{id}/reboot", "logs/{rest...}",
// "a/+/b") into a channel address and its parameters. A {name...} level is
// written {name}: AsyncAPI has no multi-level parameter, so its
// description says that the value spans levels. An unnamed wildcard is
// named level<N>, N its level from 1, as an address may hold neither '+'
// nor '#'. A shared subscription's "$share/<group>/" is dropped, as callers
// publish to the plain topic.
func address(pattern string) (string, map[string]Parameter) {
	if rest, ok := strings.CutPrefix(pattern, "$share/"); ok {
		_, pattern, _ = strings.Cut(rest, "/")
	}
	levels := strings.Split(pattern, "/")
	named := map[string]bool{}
	for _, l := range levels {
		if name, ok := paramName(l); ok {
			named[name] = true
		}
	}
	var params map[string]Parameter
	for i, l := range levels {
		name, ok := paramName(l)
		switch {
		case ok:
		case l == "+" || l == "#":
			name = "level" + strconv.Itoa(i+1)
			for named[name] {
				name += "_"
			}
		default:
			continue
		}
		if params == nil {
			params = map[string]Parameter{}
		}
		desc := levelParam
		if l == "#" || strings.HasSuffix(l, "...}") {
			desc = restParam
		}
		params[name] = Parameter{Description: desc}
		levels[i] = "{" + name + "}"
	}
	return strings.Join(levels, "/"), params
}

// paramName returns the name of a {name} or {name...} level.
func paramName(level string) (string, bool) {
	inner, ok := strings.CutPrefix(level, "{")
	if !ok {
		return "", false
	}
	inner, ok = strings.CutSuffix(inner, "}")
	return strings.TrimSuffix(inner, "..."), ok
}
