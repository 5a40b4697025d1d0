-- Where the attached lake keeps its data files (store/lake.py: the one place a sandboxed
-- connection may still read).
select value as data_path
from ducklake_options('lake')
where option_name = 'data_path'
