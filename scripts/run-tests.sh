#!/usr/bin/env bash
# The whole test suite: lint, unit, integration and render tests, every Molecule scenario.
# Usage: run-tests.sh all|lint|unit|integration|molecule [SCENARIO...]
# unit: tests/unit alone, no bundle or node needed; integration: tests/integration and tests/render.
# Runs every check even after a failure, then prints one summary line with the counts
# ("Summary: N passed, N failed") and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

stage=${1:-all}
shift || true
results_dir=.cache/test-results
rm -rf "$results_dir"
mkdir -p "$results_dir"
passed=0
failed=0
failures=()

pass() { passed=$((passed + ${2:-1})); echo "PASS: $1"; }
fail() { failed=$((failed + ${2:-1})); failures+=("$1"); echo "FAIL: $1"; }

# One check, counted once; its output goes to a log file, shown when it fails.
check() {
  local name=$1
  shift
  local log="$results_dir/${name//[^a-zA-Z0-9_.-]/_}.log"
  local start=$SECONDS
  if "$@" >"$log" 2>&1; then
    pass "$name ($((SECONDS - start)) s)"
  else
    fail "$name ($((SECONDS - start)) s)"
    tail -n 60 "$log"
  fi
}

# pytest's own counts, read from its JUnit report.
junit_counts() {
  python3 - "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - bad - skipped, bad, skipped)
EOF
}

run_lint() {
  check yamllint yamllint --strict .
  check ansible-lint ansible-lint
  check ruff ruff check .
  check inventory ansible-inventory --graph
  local playbook
  for playbook in site.yml playbooks/*.yml playbooks/*/*.yml; do
    # playbooks/tasks/ holds task files the playbooks import, not playbooks.
    [[ -f "$playbook" && $playbook != playbooks/tasks/* ]] || continue
    check "syntax-check $playbook" ansible-playbook --syntax-check "$playbook"
  done
  # Every plugin of the collection k8s_lab.lab documents itself.
  local plugin type
  # A filter or test file holding several documents each in a .yml of its own name; one holding one
  # documents it inside.
  for plugin in plugins/{modules,inventory}/*.py plugins/{filter,test}/*.yml \
    $(grep -l '^DOCUMENTATION' plugins/{filter,test}/*.py); do
    type=$(basename "$(dirname "$plugin")")
    type=${type%s}
    check "ansible-doc $type $(basename "${plugin%.*}")" \
      ansible-doc -t "$type" "k8s_lab.lab.$(basename "${plugin%.*}")"
  done
  # Every role's meta/argument_specs.yml, as ansible-doc renders it for a user.
  local role
  for role in roles/*/meta/argument_specs.yml; do
    role=${role#roles/}
    role=${role%%/*}
    check "ansible-doc role $role" ansible-doc -t role -r roles "$role"
  done
  if command -v vagrant >/dev/null; then
    check "vagrant validate" vagrant validate
  fi
}

# pytest over the given directories, one JUnit report, on pytest_workers workers of pytest-xdist:
# auto is one a core (PYTEST_XDIST_AUTO_NUM_WORKERS=N for another number), 0 runs in pytest's own
# process. A file's tests stay on one worker, in their order (tests/integration/lab_podman drives one
# lab, test_download_source uses the bundle's build cache).
pytest_workers=auto
run_pytest() {
  local report="$results_dir/pytest.xml"
  pytest -q -p no:cacheprovider -n "$pytest_workers" --dist loadfile --no-loadscope-reorder \
    --junitxml="$report" "$@" | tee "$results_dir/pytest.log"
  if [[ ! -f "$report" ]]; then
    fail "pytest (no report)"
    return
  fi
  read -r ok bad skipped < <(junit_counts "$report")
  passed=$((passed + ok))
  failed=$((failed + bad))
  if ((skipped > 0)); then
    fail "pytest skipped $skipped test(s); tests are not skipped by default" "$skipped"
  fi
  ((bad == 0)) || failures+=("pytest: $bad failed")
}

# A log as text: without the colour codes Molecule and pytest write.
plain() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }

# What a failed verify asserted, for the summary at the end (where CI's excerpt of the output ends):
# pytest's one-line results, then the assertion lines of its FAILURES and ERRORS, first 120. Molecule
# frames the verifier's output ("  │ " before each line).
pytest_digest() {
  plain "$1" | sed 's/^ *│ \{0,1\}//' | awk '
    /^=+ (FAILURES|ERRORS)( |$)/ { failures = 1; next }
    /^=+ short test summary info( |$)/ { failures = 0; summary = 1; next }
    /^=+ / { failures = 0; summary = 0 }
    failures && /^E / && shown < 120 { asserted = asserted $0 "\n"; shown++ }
    summary && /^(FAILED|ERROR) / { print }
    END { printf "%s", asserted }'
}

run_molecule() {
  local scenarios=("$@")
  if ((${#scenarios[@]} == 0)); then
    mapfile -t scenarios < <(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' \
      | xargs -n1 basename | sort)
  fi
  local scenario log start tests
  # Wide enough that Molecule's frame does not fold pytest's lines (pytest_digest reads them).
  export COLUMNS=200
  for scenario in "${scenarios[@]}"; do
    log="$results_dir/molecule-$scenario.log"
    start=$SECONDS
    molecule test -s "$scenario" >"$log" 2>&1
    local rc=$?
    # testinfra's closing lines, one per verify step of the scenario.
    tests=$(plain "$log" | grep -oE '[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
    if ((rc == 0)); then
      pass "molecule $scenario: $tests testinfra checks ($((SECONDS - start)) s)" "$((tests > 0 ? tests : 1))"
    else
      fail "molecule $scenario ($((SECONDS - start)) s)"
      plain "$log" | tail -n 80
      pytest_digest "$log" >"$results_dir/digest-$scenario.txt"
    fi
  done
}

# The real VM's scenario (reboot) runs in the background, beside lint, pytest and the small
# scenarios: qemu's software emulation keeps about one core busy for twelve minutes, and they leave
# the second one to it. The real cluster (kubeadm) starts once the VM is gone, on both cores. The
# background run counts into its own file; collect_beside adds it to the summary.
beside_scenario=reboot
run_beside() {
  (
    passed=0
    failed=0
    failures=()
    run_molecule "$beside_scenario"
    printf '%s\n' "$passed" "$failed" "${failures[@]}" >"$results_dir/beside.counts"
  ) >"$results_dir/beside.out" 2>&1 &
  beside_pid=$!
  echo "(molecule $beside_scenario runs in the background; its result comes before molecule kubeadm)"
}

collect_beside() {
  wait "$beside_pid"
  cat "$results_dir/beside.out"
  if [[ ! -f "$results_dir/beside.counts" ]]; then
    fail "molecule $beside_scenario (the background run ended without a result)"
    return
  fi
  local counts
  mapfile -t counts <"$results_dir/beside.counts"
  passed=$((passed + counts[0]))
  failed=$((failed + counts[1]))
  failures+=("${counts[@]:2}")
}

case "$stage" in
  lint) run_lint ;;
  unit) run_pytest tests/unit ;;
  integration) run_pytest tests/integration tests/render ;;
  molecule) run_molecule "$@" ;;
  all)
    if (($# > 0)); then
      run_lint
      run_pytest tests
      run_molecule "$@"
    else
      mapfile -t scenarios < <(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' \
        | xargs -n1 basename | sort | grep -vxE "$beside_scenario|kubeadm")
      run_beside
      run_lint
      # One core is the VM's: pytest keeps to the other, a second worker would take the VM's.
      pytest_workers=0
      run_pytest tests
      run_molecule "${scenarios[@]}"
      collect_beside
      run_molecule kubeadm
    fi
    ;;
  *)
    echo "usage: $0 all|lint|unit|integration|molecule [SCENARIO...]" >&2
    exit 2
    ;;
esac

echo
for digest in "$results_dir"/digest-*.txt; do
  [[ -s "$digest" ]] || continue
  echo "=== $(basename "$digest" .txt) ==="
  cat "$digest"
done
for failure in "${failures[@]}"; do
  echo "failed: $failure"
done
echo "Summary: $passed passed, $failed failed"
((failed == 0))
