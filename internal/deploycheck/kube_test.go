package deploycheck

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kubeDir holds the kustomize base and its overlays.
const kubeDir = "deploy/kubernetes"

// productionOverlay is the overlay that runs real vendors on PostgreSQL;
// every other overlay is a sandbox.
const productionOverlay = "production"

// ingressNamespace is where the ingress controller runs: the only
// namespace admitted to delivery's callback port.
const ingressNamespace = "ingress-nginx"

// manifests are the objects one overlay builds, by kind.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	policies    []*networkingv1.NetworkPolicy
}

// strictDecoder decodes the kinds the manifests may hold; an unknown or
// duplicate field is an error, as kubectl apply --validate=strict makes it.
func strictDecoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme,
		autoscalingv2.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err) // a scheme of k8s.io/api's own types always builds
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
}

// buildOverlay runs kustomize (krusty, what kubectl apply -k runs) on dir
// of fsys and decodes every object strictly into the k8s.io/api types.
func buildOverlay(fsys filesys.FileSystem, dir string) (manifests, error) {
	m := manifests{deployments: map[string]*appsv1.Deployment{}}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		return m, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	dec := strictDecoder()
	for _, r := range res.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return m, err
		}
		obj, _, err := dec.Decode(y, nil, nil)
		if err != nil {
			return m, fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err)
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			m.deployments[o.Name] = o
		case *corev1.Service:
			m.services = append(m.services, o)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			m.hpas = append(m.hpas, o)
		case *networkingv1.NetworkPolicy:
			m.policies = append(m.policies, o)
		case *corev1.Namespace:
		default:
			return m, fmt.Errorf("%s %s: got a kind the checks do not know, want it added to them", r.GetKind(), r.GetName())
		}
	}
	return m, nil
}

// kubeService is what the checks know of one service from the
// repository: the variables its config reads, the credentials it
// requires outside the sandbox, its ports and binary.
type kubeService struct {
	name     string
	vars     map[string]bool
	required []string
	apiPort  int32
	binary   string
}

// kubeServices reads every service's facts from its config, compose entry
// and Dockerfile.
func kubeServices(t *testing.T, root string) map[string]kubeService {
	t.Helper()
	p := mustLoadCompose(t, root, composeRun{})
	out := map[string]kubeService{}
	for _, name := range serviceNames(t, root) {
		d := loadDeployed(t, root, p, name)
		if len(d.compose.Ports) == 0 {
			t.Fatalf("compose %s: got no ports, want the API port first", name)
		}
		out[name] = kubeService{
			name: name, vars: d.vars, required: requiredVars(t, root, name),
			apiPort: int32(d.compose.Ports[0].Target), binary: d.entrypoint(),
		}
	}
	return out
}

// checkOverlay checks one built overlay and returns every problem found.
// production says it runs real vendors: on PostgreSQL only, with
// credentials from Secrets, disruption budgets and autoscalers.
func checkOverlay(m manifests, services map[string]kubeService, production bool) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, s := range services {
		dep, ok := m.deployments[s.name]
		if !ok {
			fail("Deployment %s: got none, want one for services/%s", s.name, s.name)
			continue
		}
		pod := dep.Spec.Template
		var c *corev1.Container
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == s.name {
				c = &pod.Spec.Containers[i]
			}
		}
		if c == nil {
			fail("Deployment %s: got no container %s", s.name, s.name)
			continue
		}
		where := "Deployment " + s.name
		// plain holds the variables set by value, fromSecret those read
		// from a file of a mounted Secret (<VAR>_FILE, as envconfig reads
		// every variable) or, outside production, a secretKeyRef.
		plain, fromSecret := map[string]string{}, map[string]bool{}
		sources := map[string]int{}
		for _, e := range c.Env {
			name, file := e.Name, false
			if v, ok := strings.CutSuffix(e.Name, fileSuffix); ok && !s.vars[e.Name] && s.vars[v] {
				name, file = v, true
			}
			sources[name]++
			if !s.vars[name] {
				fail("%s env: got %s, want only variables with env:\"...\" tags in services/%s/internal/config or SANDBOX, or one of them with %s", where, e.Name, s.name, fileSuffix)
			}
			switch {
			case file && e.ValueFrom != nil:
				fail("%s env %s: got valueFrom, want the path of a file as its value", where, e.Name)
			case file:
				if err := secretFile(pod.Spec, c, e.Value); err != nil {
					fail("%s env %s: %v", where, e.Name, err)
				}
				fromSecret[name] = true
			case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
				if production {
					fail("%s env %s: got a secretKeyRef, want %s%s naming a file of a mounted Secret (a value in the environment shows in kubectl describe and /proc/<pid>/environ)", where, e.Name, e.Name, fileSuffix)
				}
				fromSecret[name] = true
			case e.ValueFrom != nil:
				fail("%s env %s: got valueFrom other than a Secret, want a value or a file of a mounted Secret", where, e.Name)
			default:
				plain[name] = e.Value
			}
		}
		for name, n := range sources {
			if n > 1 {
				fail("%s env: got %s set %d times (as itself, %s%s or a secretKeyRef), want once (the service refuses both)", where, name, n, name, fileSuffix)
			}
		}

		// The store: SQLite is one process, never production.
		replicas := int32(1)
		if dep.Spec.Replicas != nil {
			replicas = *dep.Spec.Replicas
		}
		for _, h := range m.hpas {
			if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == s.name {
				replicas = max(replicas, h.Spec.MaxReplicas)
			}
		}
		dbVar := strings.ToUpper(s.name) + "_DATABASE_URL"
		url, set := plain[dbVar]
		sqlite := !fromSecret[dbVar] && !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://")
		if !set && !fromSecret[dbVar] {
			url = "the image's SQLite default"
		}
		if sqlite && production {
			fail("%s %s: got %s, want PostgreSQL in production (SQLite on a pod's disk is one process and dies with it)", where, dbVar, url)
		}
		if sqlite && replicas > 1 {
			fail("%s: got up to %d replicas on SQLite (%s=%s), want 1: SQLite serves one process only", where, replicas, dbVar, url)
		}
		if sqlite {
			if dir := sqliteDir(url); dir != "" && !writableMount(pod.Spec, c, dir) {
				fail("%s: got SQLite file in %s, want that directory on a mounted volume", where, dir)
			}
		}

		// Sandbox or real vendors, and where the credentials come from.
		if production {
			if plain["SANDBOX"] != "0" && plain["SANDBOX"] != "" {
				fail("%s SANDBOX: got %q, want 0 or unset", where, plain["SANDBOX"])
			}
			if !fromSecret[dbVar] {
				fail("%s %s: got a plain value, want it from a file of a mounted Secret (it holds the database password)", where, dbVar)
			}
			for _, v := range s.required {
				_, isPlain := plain[v]
				switch {
				case strings.HasSuffix(v, "_BASE_URL"):
					if (!isPlain || plain[v] == "") && !fromSecret[v] {
						fail("%s %s: got none, want the vendor's API root", where, v)
					}
				case !fromSecret[v]:
					fail("%s %s: got plain %t, want it from a file of a mounted Secret (%s%s)", where, v, isPlain, v, fileSuffix)
				}
			}
		} else if plain["SANDBOX"] != "1" {
			fail("%s SANDBOX: got %q, want 1 outside production", where, plain["SANDBOX"])
		}

		// Ports: the API port is the one the service listens on.
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		addrVar := strings.ToUpper(s.name) + "_ADDR"
		if host, port, err := net.SplitHostPort(plain[addrVar]); err != nil || host != "0.0.0.0" || port != strconv.Itoa(int(s.apiPort)) || ports["api"] != s.apiPort {
			fail("%s: got %s=%q and port api %d, want 0.0.0.0:%d and a container port named api", where, addrVar, plain[addrVar], ports["api"], s.apiPort)
		}
		portOf := func(p intstr.IntOrString) int32 {
			if p.Type == intstr.String {
				return ports[p.StrVal]
			}
			return p.IntVal
		}

		// Probes on the real paths of the API port.
		for _, pr := range []struct {
			kind  string
			probe *corev1.Probe
			path  string
		}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
			if pr.probe == nil || pr.probe.HTTPGet == nil {
				fail("%s %s: got none, want GET %s on the API port", where, pr.kind, pr.path)
				continue
			}
			if g := pr.probe.HTTPGet; g.Path != pr.path || portOf(g.Port) != s.apiPort {
				fail("%s %s: got GET %s on port %s, want GET %s on %d", where, pr.kind, g.Path, g.Port.String(), pr.path, s.apiPort)
			}
		}

		// Metrics on METRICS_ADDR's port, announced to Prometheus.
		if _, mport, err := net.SplitHostPort(plain["METRICS_ADDR"]); err != nil {
			fail("%s METRICS_ADDR: got %q, want host:port", where, plain["METRICS_ADDR"])
		} else if n, _ := strconv.Atoi(mport); ports["metrics"] != int32(n) || pod.Annotations["prometheus.io/port"] != mport || pod.Annotations["prometheus.io/scrape"] != "true" {
			fail("%s: got METRICS_ADDR port %s, container port metrics %d, annotations %v; want them to agree and prometheus.io/scrape true", where, mport, ports["metrics"], pod.Annotations)
		}

		// Shutdown: readiness flips during preStop, then SIGTERM drains
		// for up to SHUTDOWN_TIMEOUT, all within the grace period.
		shutdown, err := time.ParseDuration(plain["SHUTDOWN_TIMEOUT"])
		if err != nil || shutdown <= longestWait {
			fail("%s SHUTDOWN_TIMEOUT: got %q, want longer than %s", where, plain["SHUTDOWN_TIMEOUT"], longestWait)
		}
		var preStop time.Duration
		switch h := lifecycleHandler(c); {
		case h == nil:
			fail("%s: got no preStop, want one that lets readiness flip before SIGTERM", where)
		case h.Sleep != nil && h.Sleep.Seconds > 0:
			preStop = time.Duration(h.Sleep.Seconds) * time.Second
		case h.Exec != nil && len(h.Exec.Command) > 0 && h.Exec.Command[0] == s.binary:
		default:
			fail("%s preStop: got %+v, want a sleep or the image's own binary %s (distroless has no shell)", where, h, s.binary)
		}
		if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second < shutdown+preStop {
			fail("%s terminationGracePeriodSeconds: got %v, want SHUTDOWN_TIMEOUT %s plus the preStop %s", where, g, shutdown, preStop)
		}

		// Resources and the security context.
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
				fail("%s: got no %s request, want one", where, r)
			}
			if q, ok := c.Resources.Limits[r]; !ok || q.IsZero() {
				fail("%s: got no %s limit, want one", where, r)
			}
		}
		nonRoot := pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.RunAsNonRoot != nil && *pod.Spec.SecurityContext.RunAsNonRoot
		if c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil {
			nonRoot = *c.SecurityContext.RunAsNonRoot
		}
		if !nonRoot {
			fail("%s: got runAsNonRoot unset or false, want true", where)
		}
		if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
			fail("%s: got a writable root filesystem, want readOnlyRootFilesystem", where)
		}
		if !writableMount(pod.Spec, c, "/tmp") {
			fail("%s: got no volume on /tmp, want an emptyDir (the root filesystem is read-only)", where)
		}
		if s.vars["ESIGN_SPOOL_DIR"] && !writableMount(pod.Spec, c, plain["ESIGN_SPOOL_DIR"]) {
			fail("%s ESIGN_SPOOL_DIR: got %q, want a directory on a mounted emptyDir (uploads are spooled there)", where, plain["ESIGN_SPOOL_DIR"])
		}

		// The alert rules find the scrape targets by this pod label.
		if pod.Labels["app.kubernetes.io/part-of"] != "vendorgate" {
			fail("%s pod label app.kubernetes.io/part-of: got %q, want vendorgate (alerts.yaml selects targets by it)", where, pod.Labels["app.kubernetes.io/part-of"])
		}

		// Services: every port but metrics is reachable through one; the
		// API port through a ClusterIP and a headless one (gRPC clients
		// balancing with dns:///).
		podLabels := labels.Set(pod.Labels)
		for _, cp := range c.Ports {
			if cp.Name == "metrics" {
				continue
			}
			var clusterIP, headless bool
			for _, svc := range m.services {
				if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
					continue
				}
				for _, sp := range svc.Spec.Ports {
					if portOf(sp.TargetPort) == cp.ContainerPort || (sp.TargetPort.IntVal == 0 && sp.TargetPort.StrVal == "" && sp.Port == cp.ContainerPort) {
						if svc.Spec.ClusterIP == corev1.ClusterIPNone {
							headless = true
						} else {
							clusterIP = true
						}
					}
				}
			}
			if !clusterIP || (cp.Name == "api" && !headless) {
				fail("%s port %s: got ClusterIP Service %t, headless %t; want a Service for it (and a headless one for the API)", where, cp.Name, clusterIP, headless)
			}
		}

		// NetworkPolicy: the API and metrics from the cluster, any other
		// port (delivery's callback) from the ingress namespace only.
		errs = append(errs, checkNetworkPolicy(where, m.policies, podLabels, c.Ports, portOf)...)

		if production {
			var budget, scaler bool
			for _, p := range m.pdbs {
				sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
				if err == nil && sel.Matches(podLabels) && (p.Spec.MinAvailable != nil || p.Spec.MaxUnavailable != nil) {
					budget = true
				}
			}
			for _, h := range m.hpas {
				if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == s.name &&
					h.Spec.MinReplicas != nil && *h.Spec.MinReplicas >= 2 && h.Spec.MaxReplicas >= *h.Spec.MinReplicas {
					scaler = true
				}
			}
			if !budget {
				fail("%s: got no PodDisruptionBudget selecting its pods, want one", where)
			}
			if !scaler {
				fail("%s: got no HorizontalPodAutoscaler with at least 2 replicas, want one", where)
			}
			if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
				fail("%s replicas: got %v, want at least 2", where, dep.Spec.Replicas)
			}
		}
	}
	return errs
}

func lifecycleHandler(c *corev1.Container) *corev1.LifecycleHandler {
	if c.Lifecycle == nil {
		return nil
	}
	return c.Lifecycle.PreStop
}

// sqliteDir returns the directory of an SQLite URL's file, "" when it is
// relative (the working directory).
func sqliteDir(url string) string {
	p := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "file:")
	p, _, _ = strings.Cut(p, "?")
	if !path.IsAbs(p) {
		return ""
	}
	return path.Dir(p)
}

// fileSuffix makes the variable that names the file of another's value
// (internal/envconfig).
const fileSuffix = "_FILE"

// secretFile checks that file lies on a Secret volume mounted read-only
// into c, and that the Secret has that key (when it lists the keys it
// projects).
func secretFile(spec corev1.PodSpec, c *corev1.Container, file string) error {
	if !path.IsAbs(file) {
		return fmt.Errorf("got %q, want an absolute path on a mounted Secret", file)
	}
	for _, vm := range c.VolumeMounts {
		dir := strings.TrimSuffix(vm.MountPath, "/")
		if path.Dir(file) != dir && !(vm.SubPath != "" && file == vm.MountPath) {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != vm.Name {
				continue
			}
			if v.Secret == nil {
				return fmt.Errorf("got %s on volume %s, want a Secret volume", file, v.Name)
			}
			if !vm.ReadOnly {
				return fmt.Errorf("got Secret volume %s mounted writable on %s, want readOnly", v.Name, vm.MountPath)
			}
			key := path.Base(file)
			if vm.SubPath != "" {
				key = vm.SubPath
			}
			if len(v.Secret.Items) == 0 {
				return nil
			}
			for _, it := range v.Secret.Items {
				if it.Path == key {
					return nil
				}
			}
			return fmt.Errorf("got %s, want a path the Secret volume %s projects (its items)", file, v.Name)
		}
	}
	return fmt.Errorf("got %q, want a file of a Secret volume mounted into the container", file)
}

// writableMount says whether dir lies on a volume mounted into c.
func writableMount(spec corev1.PodSpec, c *corev1.Container, dir string) bool {
	if dir == "" {
		return false
	}
	for _, vm := range c.VolumeMounts {
		if vm.ReadOnly || !(dir == vm.MountPath || strings.HasPrefix(dir, strings.TrimSuffix(vm.MountPath, "/")+"/")) {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == vm.Name && (v.EmptyDir != nil || v.PersistentVolumeClaim != nil || v.Ephemeral != nil) {
				return true
			}
		}
	}
	return false
}

// checkNetworkPolicy wants the pod's ingress limited by a policy that
// admits the API and metrics ports from every namespace and any other
// port from the ingress namespace only.
func checkNetworkPolicy(where string, policies []*networkingv1.NetworkPolicy, pod labels.Set, ports []corev1.ContainerPort, portOf func(intstr.IntOrString) int32) []error {
	var errs []error
	var selected bool
	from := map[int32][]string{} // port → "cluster" or a namespace name
	for _, p := range policies {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil || !sel.Matches(pod) || !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			continue
		}
		selected = true
		for _, rule := range p.Spec.Ingress {
			var sources []string
			for _, peer := range rule.From {
				switch {
				case peer.IPBlock != nil:
					sources = append(sources, "ipBlock "+peer.IPBlock.CIDR)
				case peer.NamespaceSelector != nil && len(peer.NamespaceSelector.MatchLabels) == 0 && len(peer.NamespaceSelector.MatchExpressions) == 0:
					sources = append(sources, "cluster")
				case peer.NamespaceSelector != nil:
					sources = append(sources, peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
				default:
					sources = append(sources, "own namespace")
				}
			}
			if len(rule.From) == 0 {
				sources = append(sources, "anywhere")
			}
			for _, pp := range rule.Ports {
				if pp.Port != nil {
					from[portOf(*pp.Port)] = append(from[portOf(*pp.Port)], sources...)
				}
			}
			if len(rule.Ports) == 0 {
				for _, cp := range ports {
					from[cp.ContainerPort] = append(from[cp.ContainerPort], sources...)
				}
			}
		}
	}
	if !selected {
		return []error{fmt.Errorf("%s: got no NetworkPolicy for ingress, want one", where)}
	}
	for _, cp := range ports {
		got := from[cp.ContainerPort]
		switch cp.Name {
		case "api", "metrics":
			if !slices.Equal(got, []string{"cluster"}) {
				errs = append(errs, fmt.Errorf("%s NetworkPolicy port %s: got from %q, want from the cluster (every namespace)", where, cp.Name, got))
			}
		default:
			if !slices.Equal(got, []string{ingressNamespace}) {
				errs = append(errs, fmt.Errorf("%s NetworkPolicy port %s: got from %q, want from namespace %s only", where, cp.Name, got, ingressNamespace))
			}
		}
	}
	return errs
}

// overlays lists deploy/kubernetes/overlays/*.
func overlays(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, kubeDir, "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if !slices.Contains(names, productionOverlay) || !slices.Contains(names, "sandbox") {
		t.Fatalf("%s/overlays: got %q, want sandbox and %s", kubeDir, names, productionOverlay)
	}
	return names
}

// TestKubernetesOverlays builds every overlay over the real files and
// checks it.
func TestKubernetesOverlays(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	services := kubeServices(t, root)
	for _, o := range overlays(t, root) {
		t.Run(o, func(t *testing.T) {
			t.Parallel()
			m, err := buildOverlay(filesys.MakeFsOnDisk(), filepath.Join(root, kubeDir, "overlays", o))
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range checkOverlay(m, services, o == productionOverlay) {
				t.Error(err)
			}
		})
	}
}

// memFS copies deploy/kubernetes into an in-memory file system at the same
// paths, for overlays made up by a test.
func memFS(t *testing.T, root string) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(filepath.Join(root, kubeDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(p, data)
	})
	if err != nil {
		t.Fatal(err)
	}
	return mem
}

// TestKubernetesChecksRefuseSQLite runs checkOverlay on overlays broken on
// purpose: it must refuse production on SQLite and replicas on SQLite.
func TestKubernetesChecksRefuseSQLite(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	services := kubeServices(t, root)
	tests := []struct {
		name          string
		kustomization string
		patch         string
		production    bool
		want          string
	}{
		{
			name: "production on SQLite",
			kustomization: `resources: ["../production"]
patches:
  - path: patch.yaml
`,
			patch: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: vehicle
spec:
  template:
    spec:
      containers:
        - name: vehicle
          env:
            - name: VEHICLE_DATABASE_URL_FILE
              $patch: delete
            - name: VEHICLE_DATABASE_URL
              value: sqlite:///tmp/vehicle.db
`,
			production: true,
			want:       "want PostgreSQL in production",
		},
		{
			name: "sandbox with two replicas",
			kustomization: `resources: ["../sandbox"]
replicas:
  - name: esign
    count: 2
`,
			want: "SQLite serves one process only",
		},
		{
			name: "sandbox scaled by an autoscaler",
			kustomization: `resources: ["../sandbox", "hpa.yaml"]
`,
			patch: `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: delivery
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: delivery}
  minReplicas: 1
  maxReplicas: 3
`,
			want: "got up to 3 replicas on SQLite",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := "patch.yaml"
			if strings.Contains(tt.kustomization, "hpa.yaml") {
				name = "hpa.yaml"
			}
			wantCheckError(t, root, services, tt.kustomization, name, tt.patch, tt.production, tt.want)
		})
	}
}

// wantCheckError builds an overlay "broken" of kustomization and one more
// file (name, content) next to the real ones, and wants checkOverlay to
// find a problem containing want.
func wantCheckError(t *testing.T, root string, services map[string]kubeService, kustomization, name, content string, production bool, want string) {
	t.Helper()
	fsys := memFS(t, root)
	dir := filepath.Join(root, kubeDir, "overlays", "broken")
	if err := fsys.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization)); err != nil {
		t.Fatal(err)
	}
	if err := fsys.WriteFile(filepath.Join(dir, name), []byte(content)); err != nil {
		t.Fatal(err)
	}
	m, err := buildOverlay(fsys, dir)
	if err != nil {
		t.Fatal(err)
	}
	errs := checkOverlay(m, services, production)
	if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), want) }) {
		t.Errorf("checkOverlay: got %v, want an error containing %q", errors.Join(errs...), want)
	}
}

// TestKubernetesChecksWantSecretFiles runs checkOverlay on production
// overlays broken on purpose: a credential in the environment, a
// <VAR>_FILE off the Secret volume, a writable Secret mount, a variable set
// twice, and a <VAR>_FILE of a variable the service does not read are all
// refused.
func TestKubernetesChecksWantSecretFiles(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	services := kubeServices(t, root)
	const kustomization = `resources: ["../production"]
patches:
  - path: patch.yaml
`
	deployment := func(env, rest string) string {
		if env != "" {
			env = "          env:\n" + env
		}
		return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: vehicle
spec:
  template:
    spec:
      containers:
        - name: vehicle
` + env + rest
	}
	tests := []struct {
		name, patch, want string
	}{
		{
			name: "secret in the environment",
			patch: deployment(`            - name: MAINTENANCE_SECRET_KEY_FILE
              $patch: delete
            - name: MAINTENANCE_SECRET_KEY
              valueFrom:
                secretKeyRef: {name: vendorgate-vehicle, key: MAINTENANCE_SECRET_KEY}
`, ""),
			want: "env MAINTENANCE_SECRET_KEY: got a secretKeyRef, want MAINTENANCE_SECRET_KEY_FILE",
		},
		{
			name: "file off the Secret volume",
			patch: deployment(`            - name: MAINTENANCE_SECRET_KEY_FILE
              value: /tmp/MAINTENANCE_SECRET_KEY
`, ""),
			want: "env MAINTENANCE_SECRET_KEY_FILE: got /tmp/MAINTENANCE_SECRET_KEY on volume tmp, want a Secret volume",
		},
		{
			name: "writable Secret mount",
			patch: deployment("", `          volumeMounts:
            - name: secrets
              mountPath: /var/run/secrets/vendorgate
              readOnly: false
`),
			want: "mounted writable on /var/run/secrets/vendorgate, want readOnly",
		},
		{
			name: "value and file both",
			patch: deployment(`            - name: MAINTENANCE_SECRET_ID
              value: plain-id
`, ""),
			want: "got MAINTENANCE_SECRET_ID set 2 times",
		},
		{
			name: "file of an unknown variable",
			patch: deployment(`            - name: MAINTENANCE_PASSWORD_FILE
              value: /var/run/secrets/vendorgate/MAINTENANCE_PASSWORD
`, ""),
			want: "env: got MAINTENANCE_PASSWORD_FILE, want only variables",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantCheckError(t, root, services, kustomization, "patch.yaml", tt.patch, true, tt.want)
		})
	}
}

// TestKubernetesStrictDecoding shows that the decoder refuses a field
// the API does not have, as the API server would.
func TestKubernetesStrictDecoding(t *testing.T) {
	t.Parallel()
	const typo = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: delivery
spec:
  replica: 2
  selector: {matchLabels: {app: delivery}}
  template:
    metadata: {labels: {app: delivery}}
    spec:
      containers: [{name: delivery, image: delivery}]
`
	if _, _, err := strictDecoder().Decode([]byte(typo), nil, nil); err == nil || !strings.Contains(err.Error(), "replica") {
		t.Errorf("Decode of spec.replica: got error %v, want one naming the unknown field", err)
	}
}

// TestKubernetesProbesServed: every probe path of every overlay answers
// 200 on the API port of the running service.
func TestKubernetesProbesServed(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	type probe struct{ service, path string }
	var probes []probe
	for _, o := range overlays(t, root) {
		m, err := buildOverlay(filesys.MakeFsOnDisk(), filepath.Join(root, kubeDir, "overlays", o))
		if err != nil {
			t.Fatal(err)
		}
		for name, dep := range m.deployments {
			for _, c := range dep.Spec.Template.Spec.Containers {
				for _, p := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
					if p != nil && p.HTTPGet != nil && !slices.Contains(probes, probe{name, p.HTTPGet.Path}) {
						probes = append(probes, probe{name, p.HTTPGet.Path})
					}
				}
			}
		}
	}
	services := runningServices(t)
	for _, p := range probes {
		s, ok := services[p.service]
		if !ok {
			t.Errorf("Deployment %s: got no service of that name running", p.service)
			continue
		}
		if code, body, err := s.get(p.path, ""); err != nil || code != http.StatusOK {
			t.Errorf("%s GET %s on the API port: got %d %v %.200s, want 200", p.service, p.path, code, err, body)
		}
	}
}
