set terminal pngcairo size 900,560 font 'sans,10'
set grid
set key outside right top
set datafile missing '?'
set output "errors.png"
set title 'Errors (% of requests in the measured window)'
set xlabel 'offered actions / s'
set ylabel '%'
set yrange [0:*]
plot "load-all-in-one-sqlite.dat" using 1:6 with linespoints lw 2 title "all-in-one SQLite", "load-all-in-one-postgresql.dat" using 1:6 with linespoints lw 2 title "all-in-one PostgreSQL", "load-split-workers.dat" using 1:6 with linespoints lw 2 title "split workers", "load-2-nodes.dat" using 1:6 with linespoints lw 2 title "2 nodes", "load-3-nodes.dat" using 1:6 with linespoints lw 2 title "3 nodes"
