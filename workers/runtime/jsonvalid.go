package runtime

import "encoding/binary"

// validJSON reports whether data is one JSON value, exactly as json.Valid
// does, at a fraction of its cost: encoding/json walks a state machine with
// a function call per byte, which made checking the data of every event the
// largest single cost of the worker. This scanner reads strings, where most
// of an event's bytes are, eight bytes at a time. FuzzValidJSON keeps the
// two in agreement.
//
// Like json.Valid it accepts any byte from 0x20 up inside strings (it does
// not check UTF-8) and refuses nesting deeper than maxJSONDepth.
func validJSON(data []byte) bool {
	s := jsonScanner{data: data}
	s.space()
	if !s.value() {
		return false
	}
	s.space()
	return s.pos == len(s.data)
}

// maxJSONDepth is encoding/json's limit on nested arrays and objects.
const maxJSONDepth = 10000

// jsonScanner reads one JSON text. Containers are tracked on an explicit
// stack, so deep nesting costs memory, not goroutine stack.
type jsonScanner struct {
	data []byte
	pos  int
	// depth is the number of containers entered and not yet closed; the
	// kinds ('{' or '[') of the first len(near) are in near, so ordinary
	// documents need no allocation, and of the others in deeper.
	depth  int
	near   [32]byte
	deeper []byte
}

func (s *jsonScanner) push(kind byte) {
	if s.depth < len(s.near) {
		s.near[s.depth] = kind
	} else {
		s.deeper = append(s.deeper, kind)
	}
	s.depth++
}

func (s *jsonScanner) pop() {
	s.depth--
	if s.depth >= len(s.near) {
		s.deeper = s.deeper[:s.depth-len(s.near)]
	}
}

// innermost is the kind of the container the scanner is in.
func (s *jsonScanner) innermost() byte {
	if s.depth <= len(s.near) {
		return s.near[s.depth-1]
	}
	return s.deeper[s.depth-1-len(s.near)]
}

// plainStringByte marks the bytes a string may hold without an escape.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *jsonScanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value reads one value, containers included, leaving pos after it.
func (s *jsonScanner) value() bool {
	for {
		if !s.scalarOrOpen() {
			return false
		}
		// After a value: close containers and find the next value, if any.
		for {
			if s.depth == 0 {
				return true
			}
			s.space()
			if s.pos >= len(s.data) {
				return false
			}
			c := s.data[s.pos]
			kind := s.innermost()
			if (kind == '{' && c == '}') || (kind == '[' && c == ']') {
				s.pos++
				s.pop()
				continue
			}
			if c != ',' {
				return false
			}
			s.pos++
			s.space()
			if kind == '{' && !s.memberName() {
				return false
			}
			break
		}
	}
}

// scalarOrOpen reads a scalar, an empty container, or the start of a
// container up to its first value, which it leaves to value's loop.
func (s *jsonScanner) scalarOrOpen() bool {
	for {
		if s.pos >= len(s.data) {
			return false
		}
		switch c := s.data[s.pos]; c {
		case '{', '[':
			if s.depth >= maxJSONDepth {
				return false
			}
			s.pos++
			s.space()
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			if s.pos < len(s.data) && s.data[s.pos] == closer {
				s.pos++
				return true
			}
			s.push(c)
			if c == '{' && !s.memberName() {
				return false
			}
			continue // the container's first value
		case '"':
			return s.str()
		case 't':
			return s.literal("true")
		case 'f':
			return s.literal("false")
		case 'n':
			return s.literal("null")
		default:
			return s.number()
		}
	}
}

// memberName reads `"name" :` and the space after it.
func (s *jsonScanner) memberName() bool {
	if s.pos >= len(s.data) || s.data[s.pos] != '"' || !s.str() {
		return false
	}
	s.space()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return false
	}
	s.pos++
	s.space()
	return true
}

func (s *jsonScanner) literal(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}

// Word-at-a-time tests for the bytes a string must stop at, on eight bytes
// read as one little-endian word.
const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special reports whether a word holds a quote, a backslash or a control
// character: (x - lows) &^ x has a high bit set if and only if a byte of x is
// zero, which x = w XOR the byte repeated turns into "a byte of w is that
// byte"; (w - 0x20·lows) &^ w likewise if and only if a byte of w is below
// 0x20.
func special(w uint64) bool {
	quote, backslash := w^(lows*'"'), w^(lows*'\\')
	return ((quote-lows)&^quote|(backslash-lows)&^backslash|(w-lows*0x20)&^w)&highs != 0
}

// str reads a string, pos at its opening quote.
func (s *jsonScanner) str() bool {
	d := s.data
	i := s.pos + 1
	for {
		for len(d)-i >= 8 && !special(binary.LittleEndian.Uint64(d[i:])) {
			i += 8
		}
		for i < len(d) && plainStringByte[d[i]] {
			i++
		}
		if i >= len(d) {
			return false
		}
		switch d[i] {
		case '"':
			s.pos = i + 1
			return true
		case '\\':
			i++
			if i >= len(d) {
				return false
			}
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if len(d)-i < 5 {
					return false
				}
				for _, h := range d[i+1 : i+5] {
					if !isHex(h) {
						return false
					}
				}
				i += 5
			default:
				return false
			}
		default: // a control character
			return false
		}
	}
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *jsonScanner) number() bool {
	d := s.data
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		i = digits(d, i)
	default:
		return false
	}
	if i < len(d) && d[i] == '.' {
		j := digits(d, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := digits(d, i)
		if j == i {
			return false
		}
		i = j
	}
	s.pos = i
	return true
}

// digits returns the index after the run of decimal digits starting at i.
func digits(d []byte, i int) int {
	for i < len(d) && '0' <= d[i] && d[i] <= '9' {
		i++
	}
	return i
}
