//! Says what the test run will lack: whether it runs as root and which
//! prerequisites are missing (scripts/test.sh prints this at its start).

fn main() {
    let missing = pv_testkit::missing();
    let root = !missing.iter().any(|m| m == "not root");
    println!("running as root: {}", if root { "yes" } else { "no" });
    if missing.is_empty() {
        println!("every test prerequisite is present: nothing will be skipped");
        return;
    }
    let outcome = if pv_testkit::is_ci() {
        "fail (CI is set)"
    } else {
        "be skipped"
    };
    for m in &missing {
        println!("missing: {m}; the tests needing it will {outcome}");
    }
}
