package payload

import "unicode/utf16"

// ellipsis marks a value cut to fit a limit.
const ellipsis = "…"

// cut shortens s to at most n characters, counted as UTF-16 code units
// as JavaScript services count them, ending it with an ellipsis when it
// was cut.
func cut(s string, n int) string {
	units := 0
	for _, r := range s {
		units += utf16.RuneLen(r)
		if units > n {
			return head(s, n-1) + ellipsis
		}
	}
	return s
}

// head is s's longest prefix of at most n UTF-16 code units.
func head(s string, n int) string {
	units := 0
	for i, r := range s {
		units += utf16.RuneLen(r)
		if units > n {
			return s[:i]
		}
	}
	return s
}

// units counts s's UTF-16 code units.
func units(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
