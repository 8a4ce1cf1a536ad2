package event

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// validOptions make jsontext accept what encoding/json's Valid accepts:
// repeated names (the last wins when decoded) and invalid UTF-8, which
// Check refuses by itself, with its own reason.
var validOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// Valid reports whether b is one JSON value, as encoding/json's Valid
// does, in about half its time: its scanner calls a function per byte.
func Valid(b []byte) bool { return jsontext.Value(b).IsValid(validOptions...) }

// members calls fn with the key and the raw value of each top-level
// member of obj, in order. obj must be a valid JSON object (Valid):
// the scanner trusts its structure. Keys are given without their quotes;
// a key holding a backslash is unescaped first.
func members(obj []byte, fn func(key, val []byte)) {
	i := skipSpace(obj, 0)
	i++ // '{'
	for {
		i = skipSpace(obj, i)
		if obj[i] == '}' {
			return
		}
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		end := stringEnd(obj, i)
		key := obj[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			_ = json.Unmarshal(obj[i:end], &k)
			key = []byte(k)
		}
		i = skipSpace(obj, end)
		i = skipSpace(obj, i+1) // ':'
		vend := valueEnd(obj, i)
		fn(key, obj[i:vend])
		i = vend
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the string starting at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the index just past the value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default: // number, true, false, null
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return j
			}
			j++
		}
		return j
	}
}

// nonScalar stands for an object or array value, or a number that does
// not fit a float64: no well-known field takes it.
type nonScalar struct{}

// scalar converts a raw JSON value to what encoding/json would decode it
// into, for strings, numbers, booleans and null.
func scalar(raw []byte) any {
	switch raw[0] {
	case '"':
		if bytes.IndexByte(raw, '\\') < 0 {
			return string(raw[1 : len(raw)-1])
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nonScalar{}
		}
		return s
	case 't':
		return true
	case 'f':
		return false
	case 'n':
		return nil
	case '{', '[':
		return nonScalar{}
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return nonScalar{}
	}
	return f
}

// decodeObject decodes obj, a valid JSON object, as encoding/json would
// into a map[string]any; it reports false for a number beyond float64.
func decodeObject(obj []byte) (map[string]any, bool) {
	m := make(map[string]any)
	ok := true
	members(obj, func(key, val []byte) {
		if ok {
			var v any
			v, ok = decodeValue(val)
			m[string(key)] = v
		}
	})
	return m, ok
}

// decodeArray decodes arr, a valid JSON array.
func decodeArray(arr []byte) ([]any, bool) {
	out := []any{}
	i := skipSpace(arr, 1) // past '['
	for arr[i] != ']' {
		end := valueEnd(arr, i)
		v, ok := decodeValue(arr[i:end])
		if !ok {
			return nil, false
		}
		out = append(out, v)
		i = skipSpace(arr, end)
		if arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return out, true
}

func decodeValue(raw []byte) (any, bool) {
	switch raw[0] {
	case '{':
		return decodeObject(raw)
	case '[':
		return decodeArray(raw)
	}
	v := scalar(raw)
	_, bad := v.(nonScalar)
	return v, !bad
}

// Members calls fn with the key and the raw value of each top-level
// member of obj, a JSON object that passed Decoder.Check, in order.
func Members(obj []byte, fn func(key, val []byte)) { members(obj, fn) }
