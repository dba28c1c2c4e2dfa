package runtime

import (
	"encoding/json"
	"strings"
	"testing"
)

// jsonCases are texts on both sides of every rule of the grammar.
var jsonCases = []string{
	``, ` `, `null`, `nul`, `nulll`, `true`, `false`, `True`, `"a"`, `"a`, `a"`, `""`,
	`0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-1.25e10`, `+1`,
	`123456789012345678901234567890`, `1 2`, ` 1 `, "\t\n\r 1\r\n",
	`[]`, `[ ]`, `[1]`, `[1,]`, `[,1]`, `[1 2]`, `[[]]`, `[[[1,2],[3]],4]`, `[`, `]`, `[1]]`,
	`{}`, `{ }`, `{"a":1}`, `{"a" : 1 , "b":[true,null]}`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1,}`,
	`{,"a":1}`, `{"a":1 "b":2}`, `{"a":{"b":{}}}`, `{"a":1}}`, `{"a":[}`, `{"a":1]`, `[1}`,
	`"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u00"`, `"\x"`,
	`"\`, "\"a\tb\"", "\"a\x01b\"", "\"\x7f\"", "\"\xff\xfe\"", `"é"`, "\"a\nb\"",
	`{"pad":"` + strings.Repeat("x", 1014) + `"}`,
	strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth),
	strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1),
	strings.Repeat(`{"a":`, maxJSONDepth) + "1" + strings.Repeat("}", maxJSONDepth),
	strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1),
}

func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range jsonCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%.60q) = %v, json.Valid says %v", c, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := validJSON(data), json.Valid(data); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", data, got, want)
		}
	})
}

// BenchmarkValidJSON compares the scanner with json.Valid on the data of a
// 1 KiB event and on a document with more structure than text.
func BenchmarkValidJSON(b *testing.B) {
	docs := map[string][]byte{
		"padded-1KiB": []byte(`{"pad":"` + strings.Repeat("x", 1014) + `"}`),
		"order": []byte(`{"orderId":"o-1","items":[{"sku":"a-1","qty":2,"price":9.99},` +
			`{"sku":"b-2","qty":1,"price":120.5}],"customer":{"id":"c-42","tier":"gold",` +
			`"tags":["new","eu"]},"paid":true,"note":null}`),
	}
	for name, doc := range docs {
		b.Run(name+"/validJSON", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if !validJSON(doc) {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(name+"/json.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if !json.Valid(doc) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// TestValidJSONStopsAtEverySpecialByte puts each byte a string must stop at,
// and its neighbours, at every place of the words the scanner reads at once.
func TestValidJSONStopsAtEverySpecialByte(t *testing.T) {
	for n := 1; n <= 24; n++ {
		for at := 0; at < n; at++ {
			for _, c := range []byte{'"', '\\', 0x00, 0x01, 0x1f, 0x20, 0x21, '!', '#', '[', ']', 0x7f, 0x80, 0xff} {
				body := []byte(strings.Repeat("a", n))
				body[at] = c
				doc := append(append([]byte(`"`), body...), '"')
				if got, want := validJSON(doc), json.Valid(doc); got != want {
					t.Errorf("validJSON(%q) = %v, json.Valid says %v", doc, got, want)
				}
			}
		}
	}
}
