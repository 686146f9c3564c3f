package exchange

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

var testID = []byte{0x01, 0x55, 0x12, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}

func sampleMessages() []Message {
	bf := content.NewBitfield(11)
	bf.Set(0)
	bf.Set(7)
	bf.Set(10)
	return []Message{
		{Type: TypeManifestRequest, ID: testID},
		{Type: TypeHaveRequest, ID: testID},
		{Type: TypePieceRequest, ID: testID, Index: 77, Flags: FlagProof},
		{Type: TypePieceRequest, ID: testID, Index: 0},
		{Type: TypeManifest, Data: []byte("manifest bytes")},
		{Type: TypeHave, Have: bf},
		{Type: TypeHave, Have: content.NewBitfield(0)},
		{Type: TypePiece, Index: 3, Proof: []merkle.Hash{{1}, {2}}, Data: bytes.Repeat([]byte{9}, 1000)},
		{Type: TypePiece, Index: 4, Data: []byte{1}},
		{Type: TypeError, Code: CodeNotFound, Text: "not here"},
		{Type: TypeError, Code: CodeInternal},
	}
}

func isRequest(t byte) bool { return t < 0x80 }

func decodeFrame(frame []byte, lim Limits) (Message, error) {
	r := bufio.NewReader(bytes.NewReader(frame))
	limit := MaxRequestSize
	if len(frame) > 0 {
		// Peek at the type byte past the length to choose the limit, like a real reader does.
		limit = lim.maxResponseSize()
	}
	body, err := readFrame(r, nil, limit)
	if err != nil {
		return Message{}, err
	}
	if isRequest(body[0]) {
		return DecodeRequest(body)
	}
	return DecodeResponse(body, lim)
}

func TestWireRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		frame := AppendFrame(nil, &m)
		got, err := decodeFrame(frame, Limits{})
		if err != nil {
			t.Fatalf("type %#x: decode: %v", m.Type, err)
		}
		if again := AppendFrame(nil, &got); !bytes.Equal(again, frame) {
			t.Fatalf("type %#x: re-encoding differs:\n%x\n%x", m.Type, frame, again)
		}
		if m.Type == TypeHave {
			if got.Have.Len() != m.Have.Len() || !bytes.Equal(got.Have.Bytes(), m.Have.Bytes()) {
				t.Fatalf("have differs")
			}
			continue
		}
		if !reflect.DeepEqual(normalise(got), normalise(m)) {
			t.Fatalf("type %#x: got %+v want %+v", m.Type, got, m)
		}
	}
}

func normalise(m Message) Message {
	if len(m.ID) == 0 {
		m.ID = nil
	}
	if len(m.Data) == 0 {
		m.Data = nil
	}
	m.Have = nil
	return m
}

func TestWireRejectsMalformed(t *testing.T) {
	long := make([]byte, MaxIDSize+1) // frame length 130 = 0x82 0x01
	cases := map[string][]byte{
		"empty frame":        {0},
		"unknown type":       {1, 0x42},
		"request without id": {1, TypeManifestRequest},
		"id too long":        append([]byte{byte(1 + len(long)), 0x01, TypeHaveRequest}, long...),
		"short piece req":    {3, TypePieceRequest, 0, 0},
		"unknown flag":       append([]byte{7 + 1, TypePieceRequest, 0, 0, 0, 1, 0x80}, 1),
		"short have":         {2, TypeHave, 0},
		"have wrong length":  {6, TypeHave, 0, 0, 0, 9, 0xFF},
		"have spare bits":    {6, TypeHave, 0, 0, 0, 7, 0xFF},
		"proof too long":     {6, TypePiece, 0, 0, 0, 0, MaxProofHashes + 1},
		"proof truncated":    {8, TypePiece, 0, 0, 0, 0, 1, 1, 2},
		"piece without data": {6, TypePiece, 0, 0, 0, 0, 0},
		"empty manifest":     {1, TypeManifest},
		"bad utf8 error":     {3, TypeError, 1, 0xFF},
		"truncated body":     {9, TypeManifest, 1, 2},
		"truncated length":   {0x80},
		"varint overflow":    {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01},
		"non-minimal length": {0x81, 0x00, TypeManifest},
	}
	for name, frame := range cases {
		if _, err := decodeFrame(frame, Limits{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestReadFrameEnforcesLimitBeforeAllocating(t *testing.T) {
	frame := binary.AppendUvarint(nil, 1<<30) // claims a gigabyte; nothing follows
	_, err := readFrame(bufio.NewReader(bytes.NewReader(frame)), nil, 1<<20)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	lim := Limits{MaxPieceSize: 1024}
	big := Message{Type: TypePiece, Data: make([]byte, 2048)}
	f := AppendFrame(nil, &big)
	body, err := readFrame(bufio.NewReader(bytes.NewReader(f)), nil, lim.maxResponseSize())
	if err != nil {
		// the frame limit is the largest response, which the have bitfield can exceed; the
		// decoder must still refuse the oversized piece
		t.Fatalf("readFrame: %v", err)
	}
	if _, err := DecodeResponse(body, lim); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized piece: got %v", err)
	}
}

func TestReadFrameCleanEOF(t *testing.T) {
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(nil)), nil, 10); err != io.EOF {
		t.Fatalf("got %v, want io.EOF", err)
	}
}

// FuzzDecodeRequest: any input either fails with ErrMalformed or decodes to a message whose
// encoding is byte-identical to the input.
func FuzzDecodeRequest(f *testing.F) {
	for _, m := range sampleMessages() {
		if isRequest(m.Type) {
			f.Add(AppendFrame(nil, &m))
		}
	}
	f.Add([]byte{1, 0x42})
	f.Fuzz(func(t *testing.T, frame []byte) {
		body, err := readFrame(bufio.NewReader(bytes.NewReader(frame)), nil, MaxRequestSize)
		if err != nil {
			return
		}
		m, err := DecodeRequest(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if again := AppendFrame(nil, &m); !bytes.Equal(again, frame[:len(again)]) {
			t.Fatalf("round trip differs: %x vs %x", again, frame)
		}
	})
}

// FuzzDecodeResponse: as FuzzDecodeRequest for responses, under small limits so the fuzzer
// reaches the limit checks.
func FuzzDecodeResponse(f *testing.F) {
	for _, m := range sampleMessages() {
		if !isRequest(m.Type) {
			f.Add(AppendFrame(nil, &m))
		}
	}
	lim := Limits{MaxPieceSize: 4096, MaxManifestSize: 4096, MaxPieces: 4096}
	f.Fuzz(func(t *testing.T, frame []byte) {
		body, err := readFrame(bufio.NewReader(bytes.NewReader(frame)), nil, lim.maxResponseSize())
		if err != nil {
			return
		}
		m, err := DecodeResponse(body, lim)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if again := AppendFrame(nil, &m); !bytes.Equal(again, frame[:len(again)]) {
			t.Fatalf("round trip differs: %x vs %x", again, frame)
		}
	})
}
