-- Name the step (and the runs) a lake's write transaction is for: its snapshot's
-- commit_message / commit_extra_info (store/store.py: Store.transaction; README, Team store).
call ducklake_set_commit_message('lake', $author, $message, extra_info => $extra_info)
