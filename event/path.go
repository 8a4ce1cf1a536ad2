package event

import (
	"fmt"
	"strconv"
	"strings"
)

// Path is a compiled JSON path such as "metadata.amount", "tags[0]" or
// "a.b[2].c". A leading "$." is accepted and ignored. Object keys that
// hold dots or brackets can be written in quotes: `labels["app.kubernetes.io/name"]`.
type Path struct {
	text string
	segs []segment
}

type segment struct {
	key   string
	index int // used when key is empty and isIndex
	isIdx bool
}

// ParsePath compiles a JSON path.
func ParsePath(s string) (Path, error) {
	text := s
	s = strings.TrimPrefix(s, "$.")
	if s == "" || s == "$" {
		return Path{}, fmt.Errorf("empty path")
	}
	var segs []segment
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '.':
			if i == 0 || i == len(s)-1 || s[i+1] == '.' || s[i+1] == '[' {
				return Path{}, fmt.Errorf("path %q: empty key at offset %d", text, i)
			}
			i++
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return Path{}, fmt.Errorf("path %q: unclosed '[' at offset %d", text, i)
			}
			inner := s[i+1 : i+end]
			if len(inner) >= 2 && inner[0] == '"' && inner[len(inner)-1] == '"' {
				key, err := strconv.Unquote(inner)
				if err != nil {
					return Path{}, fmt.Errorf("path %q: bad quoted key %s", text, inner)
				}
				if key == "" {
					return Path{}, fmt.Errorf("path %q: empty quoted key", text)
				}
				// A quoted key may itself hold ']' only when escaped by
				// strconv rules; we do not support that.
				segs = append(segs, segment{key: key})
			} else {
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return Path{}, fmt.Errorf("path %q: index %q is not a non-negative integer", text, inner)
				}
				segs = append(segs, segment{index: n, isIdx: true})
			}
			i += end + 1
			if i < len(s) && s[i] != '.' && s[i] != '[' {
				return Path{}, fmt.Errorf("path %q: expected '.' or '[' at offset %d", text, i)
			}
		default:
			end := strings.IndexAny(s[i:], ".[")
			if end < 0 {
				end = len(s) - i
			}
			segs = append(segs, segment{key: s[i : i+end]})
			i += end
		}
	}
	return Path{text: text, segs: segs}, nil
}

// MustParsePath is ParsePath for constant paths; it panics on error.
func MustParsePath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the path as written.
func (p Path) String() string { return p.text }

// Lookup returns the value at the path in a decoded JSON object and
// whether it exists. It does not allocate.
func (p Path) Lookup(obj map[string]any) (any, bool) {
	var cur any = obj
	for _, sg := range p.segs {
		if sg.isIdx {
			arr, ok := cur.([]any)
			if !ok || sg.index >= len(arr) {
				return nil, false
			}
			cur = arr[sg.index]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[sg.key]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// topKey returns the path's key when it is one top-level key.
func (p Path) topKey() (string, bool) {
	if len(p.segs) != 1 || p.segs[0].isIdx {
		return "", false
	}
	return p.segs[0].key, true
}
