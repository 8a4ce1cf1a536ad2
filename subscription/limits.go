package subscription

import (
	"encoding/json"
	"fmt"
	"regexp"
	"regexp/syntax"
)

// Bounds on a filter, so that no subscription can make matching or
// compiling costly for every other one. Each is refused at creation with
// the field named.
const (
	// MaxFilterBytes caps the filter as JSON.
	MaxFilterBytes = 16 << 10
	// MaxFilterValues caps each of types, levels and sources.
	MaxFilterValues = 100
	// MaxPredicates caps filter.where.
	MaxPredicates = 32
	// MaxSetValues caps the list of an in or not_in predicate.
	MaxSetValues = 1000
	// MaxPatternBytes caps a regex or a glob.
	MaxPatternBytes = 1024
	// MaxRegexInsts caps the compiled program of one regex or glob, in
	// instructions: `^(ERR|FATAL).*timeout` is 23, `.{0,100}z$` 204,
	// `.{0,1000}z$` 2,004. Matching costs up to the program's size per
	// byte examined.
	MaxRegexInsts = 250
	// MaxFilterInsts caps the programs of a filter's regexes and globs
	// together.
	MaxFilterInsts = 500
	// DefaultMaxMatchBytes is how much of a string field a regex
	// examines, unless CacheOptions say otherwise: the first 4 KiB.
	DefaultMaxMatchBytes = 4 << 10
)

// checkFilterSize refuses a filter too large as a whole or in its lists.
func checkFilterSize(f Filter, field string, verr *ValidationError) {
	if b, err := json.Marshal(f); err == nil && len(b) > MaxFilterBytes {
		verr.add(field, "is %d bytes of JSON; at most %d", len(b), MaxFilterBytes)
	}
	for list, n := range map[string]int{"types": len(f.Types), "levels": len(f.Levels), "sources": len(f.Sources)} {
		if n > MaxFilterValues {
			verr.add(field+"."+list, "has %d values; at most %d", n, MaxFilterValues)
		}
	}
	if n := len(f.Where); n > MaxPredicates {
		verr.add(field+".where", "has %d predicates; at most %d", n, MaxPredicates)
	}
}

// compileBounded compiles a regular expression of at most MaxPatternBytes
// whose program has at most MaxRegexInsts instructions, and adds their
// number to *insts.
func compileBounded(expr string, insts *int) (*regexp.Regexp, error) {
	if len(expr) > MaxPatternBytes {
		return nil, fmt.Errorf("is %d bytes; at most %d", len(expr), MaxPatternBytes)
	}
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("does not compile: %v", err)
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, fmt.Errorf("does not compile: %v", err)
	}
	n := len(prog.Inst)
	if n > MaxRegexInsts {
		return nil, fmt.Errorf("compiles to %d instructions; at most %d (bound repetitions such as {0,1000})", n, MaxRegexInsts)
	}
	if *insts += n; *insts > MaxFilterInsts {
		return nil, fmt.Errorf("brings the filter's regexes and globs to %d instructions; at most %d together", *insts, MaxFilterInsts)
	}
	return regexp.Compile(expr)
}
