package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// InputKind says what is wrong with a delivery's body, so the receiver can answer it with the
// right status: Malformed is not the JSON we take (400), Invalid has a field with a value we
// cannot use (422), UnmappedStatus names a vendor status the source's status_map lacks (422).
type InputKind int

const (
	Malformed InputKind = iota + 1
	Invalid
	UnmappedStatus
)

// InputError is a body that cannot become a submission or a status update. Detail is written
// for the sender's developer: where and what, and what to send instead.
type InputError struct {
	Kind   InputKind
	Detail string
}

func (e *InputError) Error() string { return e.Detail }

func malformed(format string, args ...any) error {
	return &InputError{Kind: Malformed, Detail: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) error {
	return &InputError{Kind: Invalid, Detail: fmt.Sprintf(format, args...)}
}

// decodeStrict decodes one JSON object into v: unknown fields, trailing data and a top level
// that is not an object are errors. The error text says where and what, for the sender's
// developer; allowed lists the field names to suggest.
func decodeStrict(body []byte, v any, allowed []string) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return errors.New("the body is empty; send a JSON object")
	}
	if trimmed[0] != '{' {
		return errors.New("the body must be a JSON object ({...})")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(err, body, allowed)
	}
	// Only white space may follow (checked on the body itself: dec.Token would read on).
	end := dec.InputOffset()
	if rest := bytes.TrimLeft(body[end:], " \t\r\n"); len(rest) > 0 {
		return fmt.Errorf("unexpected data after the JSON object at byte %d; send exactly one object", len(body)-len(rest))
	}
	return nil
}

func describeJSONError(err error, body []byte, allowed []string) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(body, syn.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %s", line, col, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the JSON object is cut short (unexpected end of input)")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("field %s: want %s, got a JSON %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	}
	// encoding/json reports unknown fields only as text: `json: unknown field "x"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		msg := "unknown field " + name
		if len(allowed) > 0 {
			msg += "; the fields are " + strings.Join(allowed, ", ")
		}
		return errors.New(msg)
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	}
	return goKind
}

// position turns a byte offset into a 1-based line and column.
func position(b []byte, off int64) (line, col int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	line, col = 1, 1
	for _, c := range b[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}
