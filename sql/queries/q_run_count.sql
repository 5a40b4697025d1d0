-- How many runs the store holds (store copy refuses a target that holds any).
select count(*) as n
from runs
