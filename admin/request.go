// Reading requests and answering their errors: JSON bodies, validation,
// problem details.

package admin

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/hookstream/hookstream/subscription"
)

// decode reads a JSON body into v, refusing unknown fields and oversized
// bodies, and validates it. It writes the problem and returns false when
// the request is bad.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") &&
		!strings.HasPrefix(ct, "application/merge-patch+json") {
		writeProblem(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", a.opts.MaxBodyBytes))
		return false
	case err != nil:
		writeProblem(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return false
	}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] != '{' {
		writeProblem(w, http.StatusBadRequest, "the body must be a JSON object")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			writeProblem(w, http.StatusBadRequest, "the body does not match the schema",
				FieldError{Field: typeErr.Field, Message: fmt.Sprintf("must be %s, not %s", typeErr.Type, typeErr.Value)})
		case errors.Is(err, io.EOF):
			writeProblem(w, http.StatusBadRequest, "the body is empty; a JSON object is required")
		default:
			writeProblem(w, http.StatusBadRequest, "the body is not valid JSON: "+err.Error())
		}
		return false
	}
	if dec.More() {
		writeProblem(w, http.StatusBadRequest, "the body holds more than one JSON value")
		return false
	}
	if err := a.validate.Struct(v); err != nil {
		a.invalid(w, err)
		return false
	}
	return true
}

// invalid writes a 422 naming each bad field of a validator or
// subscription validation error.
func (a *API) invalid(w http.ResponseWriter, err error) {
	var verrs validator.ValidationErrors
	var serr *subscription.ValidationError
	var fields []FieldError
	switch {
	case errors.As(err, &verrs):
		for _, fe := range verrs {
			fields = append(fields, FieldError{Field: trimNamespace(fe.Namespace()), Message: describe(fe)})
		}
	case errors.As(err, &serr):
		for _, fe := range serr.Errors {
			fields = append(fields, FieldError{Field: fe.Field, Message: fe.Message})
		}
	default:
		fields = []FieldError{{Field: "", Message: err.Error()}}
	}
	writeProblem(w, http.StatusUnprocessableEntity, "the request has invalid fields", fields...)
}

func (a *API) unavailable(w http.ResponseWriter, err error) {
	a.opts.Logger.Error().Err(err).Msg("admin request failed on a backend")
	writeProblem(w, http.StatusServiceUnavailable, "a backend is unavailable: "+err.Error())
}

func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	_ = v.RegisterValidation("subid", func(fl validator.FieldLevel) bool {
		for _, c := range fl.Field().String() {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
		return true
	})
	return v
}

func trimNamespace(ns string) string {
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return ns
}

func describe(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "max":
		return "must be at most " + fe.Param() + " long"
	case "min":
		return "must be at least " + fe.Param()
	case "url":
		return "must be an absolute URL"
	case "startswith":
		return "must start with " + fe.Param()
	case "subid":
		return "may hold only letters, digits, '_' and '-'"
	default:
		return "failed " + fe.Tag()
	}
}

// intParam reads an optional whole-number query parameter in [lo, hi],
// writing a 400 and returning false when it is bad.
func intParam(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int) (int, bool) {
	q := r.URL.Query()
	if !q.Has(name) {
		return def, true
	}
	n, err := strconv.Atoi(q.Get(name))
	if err != nil || n < lo || n > hi {
		writeProblem(w, http.StatusBadRequest, "invalid query parameters",
			FieldError{Field: name, Message: fmt.Sprintf("must be a whole number from %d to %d", lo, hi)})
		return 0, false
	}
	return n, true
}
