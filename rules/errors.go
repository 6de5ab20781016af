package rules

import (
	"errors"
	"fmt"
)

// FileError is a problem in a data file at a position. Line and Column are 1-based; 0 means
// unknown (the YAML parser reports syntax errors by line only).
type FileError struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *FileError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// maxFileErrors caps how many problems one file reports: a broken 50 000-row export should give
// the admin a readable list, not 50 000 lines.
const maxFileErrors = 50

// errList collects the problems of one file.
type errList struct {
	file  string
	errs  []error
	extra int
}

func (l *errList) add(line, col int, format string, args ...any) {
	if len(l.errs) >= maxFileErrors {
		l.extra++
		return
	}
	l.errs = append(l.errs, &FileError{File: l.file, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)})
}

func (l *errList) err() error {
	if l.extra > 0 {
		l.errs = append(l.errs, fmt.Errorf("%s: %d more problems not shown", l.file, l.extra))
	}
	return errors.Join(l.errs...)
}
