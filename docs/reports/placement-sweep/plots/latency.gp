set terminal pngcairo size 900,560 font 'sans,10'
set grid
set key outside right top
set datafile missing '?'
set output "latency.png"
set multiplot layout 1,2
set logscale y
set xlabel 'offered actions / s'
set key bottom right inside
set title 'Delivery p99 (send → seen in each member sync)'
set ylabel 'ms'
plot "load-all-in-one-sqlite.dat" using 1:5 with linespoints lw 2 title "all-in-one SQLite", "load-all-in-one-postgresql.dat" using 1:5 with linespoints lw 2 title "all-in-one PostgreSQL", "load-split-workers.dat" using 1:5 with linespoints lw 2 title "split workers", "load-2-nodes.dat" using 1:5 with linespoints lw 2 title "2 nodes", "load-3-nodes.dat" using 1:5 with linespoints lw 2 title "3 nodes"
set title 'Message send p99'
plot "load-all-in-one-sqlite.dat" using 1:4 with linespoints lw 2 title "all-in-one SQLite", "load-all-in-one-postgresql.dat" using 1:4 with linespoints lw 2 title "all-in-one PostgreSQL", "load-split-workers.dat" using 1:4 with linespoints lw 2 title "split workers", "load-2-nodes.dat" using 1:4 with linespoints lw 2 title "2 nodes", "load-3-nodes.dat" using 1:4 with linespoints lw 2 title "3 nodes"
unset multiplot
