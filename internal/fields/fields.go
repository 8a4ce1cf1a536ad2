// Package fields reports the invalid fields of something written through
// the admin API (a payload, an endpoint credential, an inbound source),
// each named as the API names it.
package fields

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one invalid field.
type Error struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Errors lists every invalid field of one thing.
type Errors struct {
	// What is checked, for the message: "payload", "auth", "source".
	What string
	// Prefix starts every field's name ("payload.").
	Prefix string
	List   []Error
}

// Add notes an invalid field.
func (e *Errors) Add(field, format string, args ...any) {
	e.List = append(e.List, Error{Field: e.Prefix + field, Message: fmt.Sprintf(format, args...)})
}

// Err returns e, its fields sorted by name, or nil when there are none.
func (e *Errors) Err() error {
	if len(e.List) == 0 {
		return nil
	}
	slices.SortStableFunc(e.List, func(a, b Error) int { return cmp.Compare(a.Field, b.Field) })
	return e
}

func (e *Errors) Error() string {
	parts := make([]string, len(e.List))
	for i, fe := range e.List {
		parts[i] = fe.Field + ": " + fe.Message
	}
	return "invalid " + e.What + ": " + strings.Join(parts, "; ")
}
