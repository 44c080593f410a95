package resttest

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// TryIt is the "try it out" call CheckDocsPage makes: the operation, and
// values for its parameters by name.
type TryIt struct {
	OperationID string
	Params      map[string]string
	// APIKey, when set, is entered through the page's Authorize dialog
	// ("Bearer <key>") before the call, as a caller would.
	APIKey string
}

// CheckDocsPage opens base+"/docs" in headless Chromium and checks that the
// page loads, lists every RPC of sd with an HTTP binding, and that a "try
// it out" call of try, made by the page against the same service, returns
// 200. Without Chromium it fails under CI=true and skips elsewhere.
func CheckDocsPage(t *testing.T, base string, sd protoreflect.ServiceDescriptor, try TryIt) {
	t.Helper()
	path, err := exec.LookPath(chromiumPath)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not installed at %s (.ci/run installs Debian's chromium): %v", chromiumPath, err)
		}
		t.Skipf("chromium is not installed (apt-get install -y chromium): %v", err)
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// The first action starts the browser; the steps after it are timed.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/docs")); err != nil {
		t.Fatalf("load %s/docs: %v", base, err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(".opblock-summary-operation-id"))); err != nil {
		t.Fatalf("%s/docs lists no operation: %v", base, err)
	}
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(".opblock-summary-operation-id")).map(e => e.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	for i := range sd.Methods().Len() {
		name := string(sd.Methods().Get(i).Name())
		if !slices.ContainsFunc(ids, func(id string) bool { return strings.HasSuffix(id, "_"+name) }) {
			t.Errorf("the docs page lists %v, want %s among them", ids, name)
		}
	}

	if try.APIKey != "" {
		authorize := []chromedp.Action[chromedp.Void]{
			chromedp.Click(chromedp.CSS("button.btn.authorize")),
			chromedp.WaitVisible(chromedp.CSS(".auth-container input")),
			chromedp.SendKeys(chromedp.CSS(".auth-container input"), "Bearer "+try.APIKey),
			chromedp.Click(chromedp.CSS(".auth-btn-wrapper button.authorize")),
			chromedp.Click(chromedp.CSS(".auth-btn-wrapper button.btn-done")),
			chromedp.WaitNotPresent(chromedp.CSS(".auth-container")),
		}
		if err := chromedp.Do(ctx, authorize...); err != nil {
			t.Fatalf("%s/docs: authorize with the API key: %v", base, err)
		}
	}
	block := `div.opblock[id$="` + try.OperationID + `"]`
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Click(chromedp.CSS(block + " .opblock-summary")),
		chromedp.WaitVisible(chromedp.CSS(block + " .try-out__btn")),
		chromedp.Click(chromedp.CSS(block + " .try-out__btn")),
	}
	for name, value := range try.Params {
		steps = append(steps, chromedp.SendKeys(chromedp.CSS(block+` tr[data-param-name="`+name+`"] input`), value))
	}
	steps = append(steps,
		chromedp.Click(chromedp.CSS(block+" .execute")),
		chromedp.WaitVisible(chromedp.CSS(block+" .live-responses-table tr.response .response-col_status")),
	)
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("try out %s: %v", try.OperationID, err)
	}
	got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(block+" .live-responses-table tr.response .response-col_status")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(got) != "200" {
		t.Errorf("try out %s: got status %q, want 200", try.OperationID, got)
	}
}
