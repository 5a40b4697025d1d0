-- A suite's verdict over one run (Store.write_check_results, with its check_results rows).
insert into verdicts (run_id, suite, verdict, reference, candidates, failing_checks)
values ($run_id, $suite, $verdict, $reference, $candidates, $failing_checks)
