//! The board is its board.toml: checked, turned into `BOARD` and the link address, linked with
//! the platform's script (board_desc::build_script).
fn main() {
    board_desc::build_script();
}
