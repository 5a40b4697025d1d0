-- A hub model's resolved revision (the commit its snapshot folder is named after).
alter table engines add column if not exists revision varchar
