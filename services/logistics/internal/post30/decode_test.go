package post30

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
)

// The raw document gives the replies as tables only; testdata holds one
// reply per table, with every field it lists.
func TestDecodeDocumentReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		want     Reply
		wantKind vendorerr.Kind
		wantErr  bool
	}{
		{file: "recharge_ok.json", want: Reply{}},
		{file: "recharge_fail.json", wantErr: true, wantKind: vendorerr.KindRefused},
		{file: "deduction_ok.json", want: Reply{ExpressNo: "A123456789AU"}},
		{file: "deduction_fail.json", wantErr: true, wantKind: vendorerr.KindRefused},
		{file: "closebatch_ok.json", want: Reply{Message: "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeReply("/x", body)
			if tt.wantErr {
				ve, ok := vendorerr.As(err)
				if !ok || ve.Kind != tt.wantKind || ve.Message == "" {
					t.Fatalf("got %v, want a %v with the vendor's message", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRejectsReplyWithoutSuccess(t *testing.T) {
	t.Parallel()
	if _, err := decodeReply("/x", []byte(`{"message":"?"}`)); err == nil {
		t.Error("got nil, want an error")
	}
}
